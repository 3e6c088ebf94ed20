"""PNG renderings of PR curves, ROC curves and confusion matrices for reports (the API serves the numbers).

Figures are drawn on matplotlib's Agg canvas directly, never through pyplot's global state, so services
and workers can render from any thread."""

from __future__ import annotations

import io
from typing import Any

from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure


def _png(figure: Figure) -> bytes:
    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight")
    return buffer.getvalue()


def pr_curve_png(head: dict[str, Any], title: str = "") -> bytes:
    figure = Figure(figsize=(5, 4))
    axes = figure.add_subplot()
    for label, curve in head["pr_curve"].items():
        if curve["recall"]:
            ap = head["classes"][label]["average_precision"]
            axes.step(curve["recall"], curve["precision"], where="post", label=f"{label} (AP {ap:.3f})")
    axes.set(xlabel="recall", ylabel="precision", xlim=(0, 1), ylim=(0, 1.02), title=title or "Precision-recall")
    axes.legend(loc="lower left", fontsize="small")
    return _png(figure)


def roc_curve_png(head: dict[str, Any], title: str = "") -> bytes:
    figure = Figure(figsize=(5, 4))
    axes = figure.add_subplot()
    axes.plot([0, 1], [0, 1], linestyle="--", color="grey", linewidth=1)
    for label, curve in head["roc_curve"].items():
        if curve["fpr"]:
            auc = head["classes"][label]["roc_auc"]
            axes.plot(curve["fpr"], curve["tpr"], label=f"{label} (AUC {auc:.3f})")
    axes.set(
        xlabel="false positive rate", ylabel="true positive rate", xlim=(0, 1), ylim=(0, 1.02), title=title or "ROC"
    )
    axes.legend(loc="lower right", fontsize="small")
    return _png(figure)


def confusion_matrix_png(head: dict[str, Any], title: str = "") -> bytes:
    confusion = head["confusion_matrix"]
    labels = confusion["labels"]
    if "matrix" in confusion:
        matrix = confusion["matrix"]
        xlabels, ylabels = labels, labels
    else:  # multi-label: one row per label, columns TN FP FN TP
        matrix = [[c[0][0], c[0][1], c[1][0], c[1][1]] for c in confusion["per_class"].values()]
        xlabels, ylabels = ["TN", "FP", "FN", "TP"], labels
    figure = Figure(figsize=(1.2 + 0.6 * len(xlabels), 1.0 + 0.5 * len(ylabels)))
    axes = figure.add_subplot()
    axes.imshow(matrix, cmap="Blues")
    axes.set_xticks(range(len(xlabels)), xlabels, rotation=45, ha="right")
    axes.set_yticks(range(len(ylabels)), ylabels)
    axes.set(xlabel="predicted" if "matrix" in confusion else "", ylabel="actual" if "matrix" in confusion else "label")
    axes.set_title(title or "Confusion matrix")
    top = max((max(row) for row in matrix), default=0)
    for row_index, row in enumerate(matrix):
        for column_index, value in enumerate(row):
            color = "white" if top and value > top / 2 else "black"
            axes.text(column_index, row_index, str(value), ha="center", va="center", color=color, fontsize="small")
    return _png(figure)
