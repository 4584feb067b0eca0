from django.utils.translation import gettext
from rest_framework.exceptions import ParseError
from rest_framework.negotiation import DefaultContentNegotiation
from rest_framework.parsers import JSONParser


class SafeJSONParser(JSONParser):
    """JSON that nests too deeply for Python's parser is a client error, not a crash."""

    def parse(self, stream, media_type=None, parser_context=None):
        try:
            return super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(gettext("The JSON body nests too deeply.")) from None


class JsonContentNegotiation(DefaultContentNegotiation):
    """The API answers in JSON only. The Accept headers nearly every client sends (none,
    `*/*`, `application/json`) choose the one renderer without DRF parsing them, which was
    a few percent of a balance read (issue 18); any other header, a `?format=` or a view
    with several renderers (the schema) is negotiated by DRF as before, 406 included."""

    PLAIN_ACCEPTS = frozenset(("", "*/*", "application/json"))

    def select_renderer(self, request, renderers, format_suffix=None):
        if (
            len(renderers) == 1
            and not format_suffix
            and request.META.get("HTTP_ACCEPT", "") in self.PLAIN_ACCEPTS
            and self.settings.URL_FORMAT_OVERRIDE not in request.query_params
        ):
            return renderers[0], renderers[0].media_type
        return super().select_renderer(request, renderers, format_suffix)
