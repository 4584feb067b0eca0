"""How every list endpoint pages: cursor pages `{next, previous, results}`, with
`page_size` in ASCII digits (DRF's own parsing would take `١٢` or ` 12`)."""

import re

from django.utils.translation import gettext as _
from rest_framework import serializers
from rest_framework.pagination import CursorPagination

PAGE_SIZE_RE = re.compile(r"[0-9]{1,6}", re.ASCII)


class CursorPage(CursorPagination):
    page_size = 50
    max_page_size = 200
    page_size_query_param = "page_size"

    def get_page_size(self, request):
        raw = request.query_params.get(self.page_size_query_param)
        if raw is None:
            return self.page_size
        if not PAGE_SIZE_RE.fullmatch(raw) or int(raw) < 1:
            raise serializers.ValidationError(
                {
                    self.page_size_query_param: [
                        _("Send a page size from 1 to %(max)d in ASCII digits.")
                        % {"max": self.max_page_size}
                    ]
                },
                code="invalid",
            )
        return min(int(raw), self.max_page_size)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"] = {
                    "type": "integer",
                    "minimum": 1,
                    "maximum": self.max_page_size,
                }
        return parameters
