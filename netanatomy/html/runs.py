"""The page of a finished training run: ``netanatomy report RUN_DIR``.

A run directory is read through a small adapter (:func:`read_metrics`, :func:`detect`) so that
the page does not depend on one trainer's file layout: a classifier run (``train``: ``best.pt`` /
``last.pt`` and ``metrics.csv`` or ``.jsonl`` with one record per epoch), a char-model run
(``charrnn train``: ``ckpt.pt`` and ``metrics.jsonl`` with train/val records by step) and an
experiment (``experiment``: ``NAME.md`` reports with their ``NAME.png`` figures, sub-runs in
sub-folders). For a classifier the page recomputes the validation predictions from the
checkpoint (confusion matrix, misclassified images with the top-3 guesses); for a char model it
draws samples at several temperatures.
"""

from __future__ import annotations

import base64
import csv
import html
import io
import json
from pathlib import Path
from typing import Any

from netanatomy.errors import UserError
from netanatomy.html.page import render

#: Temperatures of the char-model samples (0 = argmax).
SAMPLE_TEMPERATURES = (0.5, 1.0, 1.5)
#: At most this many misclassified images in the page.
MAX_MISCLASSIFIED = 24

# Chart specs: (id, title key, [(record field, label key, suffix)], log scale)
_CLASSIFIER_CHARTS = (
    ("loss", "loss", (("train_loss", "train", ""), ("val_loss", "val", "")), False),
    ("accuracy", "accuracy", (("train_acc", "train", ""), ("val_acc", "val", "")), False),
    ("lr", "lr", (("lr", "lr", ""),), False),
)
_CHAR_CHARTS = (
    ("loss", "loss", (("mean_loss", "train", " (mean)"), ("val_loss", "val", "")), False),
    ("bpc", "bpc", (("bpc", "train", ""), ("val_bpc", "val", "")), False),
    ("lr", "lr", (("lr", "lr", ""),), False),
)


def read_metrics(run_dir: Path) -> list[dict[str, Any]]:
    """The run's metric records, oldest first, from ``metrics.jsonl`` or ``metrics.csv``."""
    jsonl, table = run_dir / "metrics.jsonl", run_dir / "metrics.csv"
    try:
        if jsonl.exists():
            return [json.loads(line) for line in jsonl.read_text(encoding="utf-8").splitlines() if line.strip()]
        if table.exists():
            with open(table, encoding="utf-8", newline="") as f:
                return [{k: _number(v) for k, v in row.items()} for row in csv.DictReader(f)]
    except (json.JSONDecodeError, ValueError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read the metrics of {run_dir}: {exc}; is it a netanatomy run directory?") from None
    return []


def _number(text: str | None) -> Any:
    try:
        return float(text) if text is not None else None
    except ValueError:
        return text


def detect(run_dir: Path) -> str:
    """``classifier``, ``char`` or ``experiment``."""
    from netanatomy.charlm.checkpoint import CHECKPOINT_NAME

    if (run_dir / CHECKPOINT_NAME).exists():
        return "char"
    if (run_dir / "best.pt").exists() or (run_dir / "last.pt").exists():
        return "classifier"
    if any(p.with_suffix(".png").exists() for p in run_dir.glob("*.md")):
        return "experiment"
    raise UserError(f"{run_dir} holds no netanatomy run (no best.pt/last.pt, ckpt.pt, or experiment report NAME.md "
                    "with NAME.png); give the --run-dir of a finished train, charrnn train or experiment run")


def _charts(records: list[dict[str, Any]], specs: tuple[Any, ...], x_field: str) -> list[dict[str, Any]]:
    charts = []
    for cid, title, fields, log in specs:
        series = []
        for name, label, suffix in fields:
            pts = [[float(r[x_field]), float(r[name])] for r in records
                   if isinstance(r.get(name), (int, float)) and isinstance(r.get(x_field), (int, float))]
            if pts:
                series.append({"name": name, "label_key": label, "suffix": suffix, "points": pts})
        if series:
            charts.append({"id": cid, "title_key": title, "series": series, "log": log})
    return charts


def _png(array: Any) -> str:
    from PIL import Image

    buf = io.BytesIO()
    Image.fromarray(array).save(buf, format="PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def classifier_evaluation(checkpoint: Path) -> dict[str, Any]:
    """Confusion matrix and misclassified validation images, recomputed from the checkpoint."""
    import numpy as np
    import torch

    from netanatomy.training import checkpoint as ckpt
    from netanatomy.training.datasets import load_dataset
    from netanatomy.training.predict import load_classifier

    model, info = load_classifier(checkpoint)
    cfg = ckpt.load_checkpoint(checkpoint).get("config", {})
    _, val, _ = load_dataset(cfg.get("dataset", info.name), cfg.get("data_dir"), val_fraction=cfg.get("val_fraction", 0.1),
                             seed=cfg.get("seed", 0), image_size=cfg.get("image_size"), limit=cfg.get("limit"))
    x, y = val.tensors
    with torch.no_grad():
        probs = torch.cat([torch.softmax(_logits(model(x[i:i + 256])), dim=1) for i in range(0, len(x), 256)])
    pred = probs.argmax(1)
    k = info.num_classes
    matrix = np.zeros((k, k), dtype=np.int64)
    np.add.at(matrix, (y.numpy(), pred.numpy()), 1)
    mean = torch.tensor(info.mean).view(1, -1, 1, 1)
    std = torch.tensor(info.std).view(1, -1, 1, 1)
    wrong = (pred != y).nonzero().flatten()[:MAX_MISCLASSIFIED].tolist()
    misclassified = []
    for i in wrong:
        img = ((x[i:i + 1] * std + mean).clamp(0, 1)[0] * 255).round().to(torch.uint8)
        arr = img.permute(1, 2, 0).numpy()
        arr = arr[..., 0] if arr.shape[2] == 1 else arr
        top = torch.topk(probs[i], min(3, k))
        misclassified.append({"index": i, "true": info.classes[int(y[i])], "image": _png(arr),
                              "top3": [[info.classes[int(c)], float(p)] for p, c in zip(top.values, top.indices)]})
    return {"confusion": {"classes": list(info.classes), "matrix": matrix.tolist()}, "misclassified": misclassified}


def _logits(out: Any) -> Any:
    # GoogLeNet with auxiliary heads returns a tuple in training mode; eval gives the main logits.
    return out[0] if isinstance(out, (tuple, list)) else out


def char_samples(run_dir: Path, length: int = 240) -> list[dict[str, Any]]:
    """The run's temperature table (``temperatures.json``, written when training ends): a sample at
    each temperature with the mean entropy of the softmax each character was drawn from. A run
    stopped before its end has none; the table is then drawn from the checkpoint, seed 0."""
    from netanatomy.charlm.checkpoint import load_model
    from netanatomy.charlm.sample import temperature_table
    from netanatomy.charlm.train import read_temperature_table

    rows = read_temperature_table(run_dir)
    if not rows:
        model, vocab, _ = load_model(run_dir)
        rows = temperature_table(model, vocab, "", length, temperatures=SAMPLE_TEMPERATURES, seed=0)
    return [row.to_dict() for row in rows]


def samples_over_training(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The sample ``charrnn train`` drew at each evaluation (same seed and prime each time), so the
    text can be watched going from noise to words."""
    return [{"step": r["step"], "text": r["sample"]} for r in records if r.get("sample")]


def experiment_sections(run_dir: Path) -> list[dict[str, Any]]:
    """Each ``NAME.md`` report (shown as written) with its ``NAME.png`` figure."""
    out = []
    for md in sorted(run_dir.glob("*.md")):
        png = md.with_suffix(".png")
        figures = ["data:image/png;base64," + base64.b64encode(png.read_bytes()).decode("ascii")] if png.exists() else []
        out.append({"name": md.stem, "html": f"<pre class=\"sample\">{html.escape(md.read_text(encoding='utf-8'))}</pre>",
                    "figures": figures})
    return out


def run_payload(run_dir: str | Path) -> dict[str, Any]:
    """Everything the run page shows."""
    run = Path(run_dir)
    kind = detect(run)
    records = read_metrics(run)
    data: dict[str, Any] = {"dir": str(run), "kind": kind, "title": run.resolve().name}
    if kind == "classifier":
        from netanatomy.training import checkpoint as ckpt

        best = run / "best.pt" if (run / "best.pt").exists() else run / "last.pt"
        cfg = ckpt.load_checkpoint(best).get("config", {})
        data["config"] = {k: cfg[k] for k in ("model", "dataset", "epochs", "batch_size", "optimizer", "lr", "schedule") if k in cfg}
        data["title"] = f"{cfg.get('model', run.name)} on {cfg.get('dataset', '?')}"
        data["x_key"] = "epoch"
        data["charts"] = _charts(records, _CLASSIFIER_CHARTS, "epoch")
        data.update(classifier_evaluation(best))
    elif kind == "char":
        from netanatomy.charlm.checkpoint import load_checkpoint

        state = load_checkpoint(run)
        mc = state.get("model_config", {})
        data["config"] = {k: v for k, v in (mc.items() if isinstance(mc, dict) else []) if isinstance(v, (int, float, str))}
        data["x_key"] = "step"
        data["charts"] = _charts(records, _CHAR_CHARTS, "step")
        data["samples"] = char_samples(run)
        data["samples_over_training"] = samples_over_training(records)
    else:
        data["x_key"] = "epoch"
        data["experiments"] = experiment_sections(run)
    return data


def run_report(run_dir: str | Path, lang: str = "en") -> str:
    """The HTML page of a finished run."""
    data = run_payload(run_dir)
    return render("run", f"netanatomy: {data['title']}", {"run": data}, lang)
