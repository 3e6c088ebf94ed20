"""A finished model's evaluation as the public API returns it (``GET /v1/models/{id}/metrics``): per head and
class, overall, against the baseline, per epoch. The figures follow ``modelkit.metrics``: a ratio with a zero
denominator is 0, an AUC or average precision that is undefined is null. Blocks a model type adds (an LLM's
perplexity, its parity replies) are kept as extra fields."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Averages(BaseModel):
    precision: float
    recall: float
    specificity: float
    f1: float
    balanced_accuracy: float
    roc_auc: float | None = None
    average_precision: float | None = None


class ClassMetrics(Averages):
    support: int
    tp: int
    fp: int
    tn: int
    fn: int
    precision_ci: list[float] | None = Field(default=None, description="95% Wilson interval of the precision")
    recall_ci: list[float] | None = Field(default=None, description="95% Wilson interval of the recall")


class PrCurve(BaseModel):
    precision: list[float]
    recall: list[float]
    thresholds: list[float | None]


class RocCurve(BaseModel):
    fpr: list[float]
    tpr: list[float]
    thresholds: list[float | None]


class ThresholdRow(BaseModel):
    threshold: float
    precision: float
    recall: float
    f1: float
    fpr: float


class BestThreshold(BaseModel):
    threshold: float | None = Field(description="the cut-off with the highest F1 on the test set")
    f1: float


class ConfusionMatrix(BaseModel):
    labels: list[str]
    matrix: list[list[int]] | None = Field(default=None, description="single-label: actual (rows) x predicted")
    unpredicted: list[int] | None = Field(
        default=None,
        description="single-label at cut-offs: per actual class, the rows on which no class reached its cut-off",
    )
    per_class: dict[str, list[list[int]]] | None = Field(
        default=None, description="multi-label: [[tn, fp], [fn, tp]] per label"
    )


class HeadMetrics(BaseModel):
    model_config = ConfigDict(extra="allow")

    multilabel: bool
    rows: int
    threshold: float | None = Field(description="the cut-off every class was decided at; null: the argmax")
    cuts: dict[str, float] | None = Field(default=None, description="cut-offs of single classes, over threshold")
    classes: dict[str, ClassMetrics]
    macro: Averages
    micro: Averages
    weighted: Averages
    accuracy: float = Field(description="accuracy, or the Hamming score of a multi-label head")
    accuracy_ci: list[float] | None = Field(
        default=None, description="single-label: the 95% Wilson interval of the accuracy over the test rows"
    )
    loss: float | None = Field(description="cross-entropy; null for an llm's reply head (its replies have no scores)")
    hamming_score: float | None = None
    hamming_loss: float | None = None
    subset_accuracy: float | None = None
    confusion_matrix: ConfusionMatrix
    pr_curve: dict[str, PrCurve]
    roc_curve: dict[str, RocCurve]
    thresholds: dict[str, list[ThresholdRow]] = Field(description="per class: the figures at cut-offs 0.05-0.95")
    best_thresholds: dict[str, BestThreshold | None]


class OverallMetrics(BaseModel):
    """The heads' macro figures averaged (classifiers); loss and perplexity (LLMs)."""

    model_config = ConfigDict(extra="allow")

    precision: float | None = None
    recall: float | None = None
    specificity: float | None = None
    f1: float | None = None
    balanced_accuracy: float | None = None
    accuracy: float | None = None
    loss: float | None = None
    perplexity: float | None = None


class DetectionImage(BaseModel):
    row_id: int | None = Field(description="the dataset row of the test image")
    score: float = Field(description="F1 of its detections (score >= 0.3) against its boxes, matched at IoU 0.5")
    image: str = Field(description="a JPEG data URL: its boxes in green, the model's detections in red")


class DetectionReport(BaseModel):
    """An object detector's test figures, named as the metric guide names them."""

    metrics: dict[str, float | None] = Field(
        description="COCO box metrics by pycocotools: coco/bbox_mAP, coco/bbox_mAP_50, coco/bbox_mAP_75, "
        "coco/bbox_mAP_s, coco/bbox_mAP_m, coco/bbox_mAP_l, coco/bbox_AR@1, @10, @100 ...; null: not measurable "
        "(no test object of that size)"
    )
    per_class: dict[str, dict[str, float | None]] = Field(description="per class: AP, AP_50, AP_75")
    pr_curves: dict[str, dict[str, list[float]]] = Field(description="per class at IoU 0.5: recall, precision")
    test_images: int
    test_objects: int
    best_images: list[DetectionImage] = Field(default_factory=list)
    worst_images: list[DetectionImage] = Field(default_factory=list)


class SegmentationImage(BaseModel):
    row_id: int | None = Field(description="the dataset row of the test image")
    score: float = Field(description="the share of its scored pixels the model classified right")
    image: str = Field(description="a JPEG data URL: the image, its true mask over it (left) and the model's (right)")


class SegmentationReport(BaseModel):
    """A semantic segmenter's test figures, named as the metric guide (MMSegmentation) names them, as fractions of
    1, from the pixel confusion matrix at each test image's own size (pixels marked 255 not scored)."""

    metrics: dict[str, float] = Field(description="aAcc, mIoU, mAcc")
    classes: list[str] = Field(description="by index: the mask's pixel value i is classes[i]")
    per_class: dict[str, dict[str, float | int | None]] = Field(
        description="per class: IoU, Acc (null: the class is in neither the truth nor the prediction), pixels"
    )
    confusion_matrix: list[list[int]] = Field(description="pixels, truth by row and prediction by column")
    test_images: int
    worst_images: list[SegmentationImage] = Field(
        default_factory=list, description="the test images it gets most wrong"
    )


class Selection(BaseModel):
    name: str
    value: float | None


class ModelMetrics(BaseModel):
    model_config = ConfigDict(extra="allow")

    model_id: str
    threshold: float | None = Field(description="the cut-off asked for (?threshold=), else null: each head's own")
    threshold_class: str | None = Field(default=None, description="the one class the cut-off was applied to")
    heads: dict[str, HeadMetrics]
    overall: OverallMetrics
    baseline: dict[str, Any] = Field(description="the baseline's report on the same test rows, and its name")
    delta: dict[str, Any] = Field(description="the model's figures minus the baseline's, per head and overall")
    epochs: list[dict[str, Any]] = Field(description="per evaluation: epoch, step, train and validation loss, metric")
    chosen_epoch: float | None
    chosen_step: int | None
    selection: Selection
    stopped_early: bool
    kept_heads: list[str] = Field(description="heads kept unchanged from the parent model")
    training: dict[str, Any] = Field(description="rows, seconds, examples per second, device")
    hardest_examples: dict[str, Any] = Field(default_factory=dict)
    leakage: dict[str, int] | None = Field(
        default=None, description="test_rows, and test_rows_in_training: those whose input is a training row's too"
    )
    detection: DetectionReport | None = Field(default=None, description="an object detector's COCO figures")
    segmentation: SegmentationReport | None = Field(
        default=None, description="a semantic segmenter's aAcc, mIoU, mAcc, per class, confusion matrix"
    )


GENERATIVE_FIELDS = (
    "train_examples",
    "validation_examples",
    "test_examples",
    "left_out",
    "test_left_out",
    "parity",
    "max_length",
    "prompts_cut",
)


class RunEvaluation(BaseModel):
    """``metrics.json``: what a training run's evaluation wrote beside its artifacts. The worker writes it and
    trainer-svc reads it back with this one type (``ModelMetrics`` is the view built from it)."""

    report: dict[str, Any] = Field(description="heads (per class, averages, curves...) and overall, at each cut-off")
    baseline: dict[str, Any]
    baseline_name: str
    delta: dict[str, Any]
    epochs: list[dict[str, Any]]
    chosen_epoch: float | None
    chosen_step: int | None
    selection: Selection
    stopped_early: bool
    kept_heads: list[str]
    training: dict[str, Any]
    hardest_examples: dict[str, Any] = Field(default_factory=dict)
    leakage: dict[str, int] | None = None
    detection: DetectionReport | None = None  # an object detector's figures (its report has no heads)
    segmentation: SegmentationReport | None = None  # a semantic segmenter's figures (no heads either)
    # What a causal LM's evaluation adds (GENERATIVE_FIELDS): the examples each part had, rows left out (a reply
    # longer than max_length, unusable messages), the greedy replies a deployment must reproduce, the run's
    # max_length and the prompts cut.
    train_examples: int | None = None
    validation_examples: int | None = None
    test_examples: int | None = None
    left_out: dict[str, int] | None = None
    test_left_out: dict[str, int] | None = None
    parity: list[dict[str, Any]] | None = None
    max_length: int | None = None
    prompts_cut: dict[str, int] | None = None

    def generative(self) -> dict[str, Any]:
        """The causal LM's own figures, those this run has."""
        return {name: getattr(self, name) for name in GENERATIVE_FIELDS if getattr(self, name) is not None}
