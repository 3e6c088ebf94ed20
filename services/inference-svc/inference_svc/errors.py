"""The domain errors of inference-svc (each carries its status; one handler renders them all)."""

from __future__ import annotations

from automl_common.errors import Conflict, InvalidRequest, NotFound, RateLimited, ServiceUnavailable


class DeploymentNotFound(NotFound):
    pass


class TaskNotFound(NotFound):
    pass


class BatchPredictionNotFound(NotFound):
    pass


class ModelNotFound(NotFound):
    pass


class SourceNotFound(NotFound):
    """A batch prediction's snapshot or dataset."""


class SourceNotReady(Conflict):
    pass


class BatchNotFinished(Conflict):
    pass


class ModelNotReady(Conflict):
    pass


class ModelNotServable(InvalidRequest):
    """A model of a family this release has no predictor for."""


class DeploymentNotReady(ServiceUnavailable):
    def __init__(self, detail: str, retry_after_s: int = 2) -> None:
        super().__init__(detail, headers={"Retry-After": str(retry_after_s)})


class DeploymentFailed(Conflict):
    pass


class WrongInputKind(InvalidRequest):
    pass


class TooManyInputs(InvalidRequest):
    pass


class TextTooLong(InvalidRequest):
    pass


class CallbackRefused(InvalidRequest):
    pass


class ImageRefused(InvalidRequest):
    """An image input that cannot be used: not fetched, not an image, over a limit."""


class PredictionFailed(ServiceUnavailable):
    pass


class PlaygroundQuotaExhausted(RateLimited):
    """A batch prediction straight from a model has more rows than the model's free playground queries left."""


class PromptTooLong(InvalidRequest):
    pass


class PlaygroundBusy(RateLimited):
    """The org has as many playground calls running as it may (the playground's replicas serve every org)."""
