from django.utils.translation import gettext_lazy as _

from loyalty_engine.errors import DomainError, NotFound


class ModelNotFitted(NotFound):
    code = "model_not_fitted"
    message = _("No prediction model has been fitted yet: run manage.py fit_predictions.")


class SegmentNotFound(NotFound):
    code = "segment_not_found"
    message = _("There is no segment with this id.")


class SegmentInvalid(DomainError):
    code = "segment_invalid"
    message = _("The segment's conditions are not valid.")
