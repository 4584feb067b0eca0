from loyalty_engine.errors import DomainError, NotFound


class ModelNotFitted(NotFound):
    code = "model_not_fitted"
    message = "No prediction model has been fitted yet: run manage.py fit_predictions."


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    message = "There is no segment with this id."


class SegmentInvalid(DomainError):
    code = "segment_invalid"
    message = "The segment's conditions are not valid."
