"""Every 404, 405 and 415 outside the staff's HTML pages is the JSON error envelope.

DRF views already answer with it (loyalty_engine/errors.py), but a URL no view matches
gets Django's HTML page, the technical one when DEBUG is on (handler404 only applies with
DEBUG off). API clients must meet the same envelope in development as in production.
"""

from django.http import JsonResponse

from loyalty_engine.errors import error_body

# Staff pages keep Django's HTML answers: the admin (with the KPI dashboard) and the docs.
HTML_PREFIXES = ("/admin/", "/api/docs/")

_ERRORS = {
    404: ("not_found", "No such URL."),
    405: ("method_not_allowed", "This URL does not take this method."),
    415: ("unsupported_media_type", "Send the body as application/json."),
}


class JsonErrorMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code not in _ERRORS or request.path.startswith(HTML_PREFIXES):
            return response
        if response.get("Content-Type", "").startswith("application/json"):
            return response
        code, message = _ERRORS[response.status_code]
        json_response = JsonResponse(error_body(code, message), status=response.status_code)
        if response.has_header("Allow"):
            json_response["Allow"] = response["Allow"]
        return json_response
