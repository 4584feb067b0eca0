"""The language of each response, chosen in this order, first match wins:

1. an explicit `?lang=` on the request;
2. the `Accept-Language` header (a malformed header is ignored, never an error);
3. the member's own language (`Member.language`), once the member token is read;
4. the program's default language (`Program.default_language`).

An unsupported language falls through to the next step silently. Every response carries
`Content-Language`. Staff pages (the admin, the dashboard) follow the same order, with the
language switcher's cookie in place of the member (`django.middleware.locale`'s rules).

The program's default language is read from the database at most once a minute per
process (`program_language`): a request must not cost a query to learn which language it
speaks, because the earn path's query count is pinned. A save of the program sets it at
once in the saving process (`program_language_set`, from rewards' post_save handler).
"""

import contextvars
import re
import time
from collections.abc import Callable

from django.conf import settings
from django.utils import translation
from django.utils.cache import patch_vary_headers

SUPPORTED = tuple(code for code, _ in settings.LANGUAGES)
# Seconds a process trusts its copy of the program's default language.
PROGRAM_LANGUAGE_TTL = 60

# Whether the request named its language itself (?lang= or Accept-Language): then the
# member's and the program's languages do not override it.
_explicit: contextvars.ContextVar[bool] = contextvars.ContextVar("language_explicit", default=False)
# Whether a request is being answered (jobs and commands speak no member's language).
_in_request: contextvars.ContextVar[bool] = contextvars.ContextVar("in_request", default=False)
_program_language: dict = {"code": None, "read_at": 0.0}
_program_language_loader: list[Callable[[], str | None]] = []

# RFC 9110 §12.5.4: language-range [";q=" qvalue], comma-separated.
_ACCEPT_ITEM = re.compile(
    r"^\s*([A-Za-z]{1,8}(?:-[A-Za-z0-9]{1,8})*|\*)\s*(?:;\s*q\s*=\s*([01](?:\.\d{0,3})?))?\s*$"
)


def supported(code: str | None) -> str | None:
    """The supported language a code names (`sv-SE` -> `sv`), or None."""
    if not code or not isinstance(code, str) or len(code) > 35:
        return None
    base = code.strip().lower().replace("_", "-").split("-")[0]
    return base if base in SUPPORTED else None


def from_accept_language(header: str) -> str | None:
    """The best supported language of an Accept-Language header; None when the header is
    empty, malformed or names none we speak."""
    if not header or len(header) > 500:
        return None
    ranked = []
    for position, item in enumerate(header.split(",")):
        match = _ACCEPT_ITEM.match(item)
        if match is None:
            return None  # malformed: ignored as a whole
        quality = float(match.group(2)) if match.group(2) else 1.0
        if quality > 1:
            return None
        ranked.append((-quality, position, match.group(1)))
    for quality, _, code in sorted(ranked):
        if quality < 0 and supported(code):
            return supported(code)
    return None


def program_language_loader(loader: Callable[[], str | None]) -> None:
    """Register how to read the program's default language (rewards' AppConfig.ready)."""
    _program_language_loader[:] = [loader]


def program_language_set(code: str | None) -> None:
    _program_language.update(
        code=supported(code) or settings.LANGUAGE_CODE, read_at=time.monotonic()
    )
    fallback_names_set(_program_language["code"])


def program_language() -> str:
    """The program's default language, from this process's copy (at most a minute old)."""
    if time.monotonic() - _program_language["read_at"] > PROGRAM_LANGUAGE_TTL:
        code = _program_language_loader[0]() if _program_language_loader else None
        program_language_set(code)
    return _program_language["code"]


def fallback_names_set(default: str) -> None:
    """Names staff enter per language (django-modeltranslation) fall back to the program's
    default language first, then to the others, so a name is never empty."""
    from modeltranslation import settings as mt_settings

    order = (default, *(code for code in SUPPORTED if code != default))
    mt_settings.FALLBACK_LANGUAGES = {"default": order}


def is_explicit() -> bool:
    return _explicit.get()


def in_request() -> bool:
    """Whether a request is being answered (then `speak_to` speaks the member's language)."""
    return _in_request.get()


def activate_for_member(member) -> None:
    """Speak the member's language, else the program's, unless the request named one."""
    if not _explicit.get():
        translation.activate(supported(getattr(member, "language", "")) or program_language())


def speak_to(member) -> None:
    """A shop's request about a member answers in the member's language (a purchase's
    itemized points, an error) unless the request named one; outside a request, nothing."""
    if _in_request.get():
        activate_for_member(member)


def request_language(request) -> tuple[str | None, bool]:
    """(language, explicit) for a request before anyone is authenticated."""
    chosen = supported(request.GET.get("lang"))
    if chosen:
        return chosen, True
    chosen = from_accept_language(request.META.get("HTTP_ACCEPT_LANGUAGE", ""))
    if chosen:
        return chosen, True
    if request.path.startswith("/admin/"):
        # Staff: the admin's language switcher sets Django's language cookie.
        chosen = supported(request.COOKIES.get(settings.LANGUAGE_COOKIE_NAME))
        if chosen:
            return chosen, True
    return None, False


class LanguageMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        chosen, explicit = request_language(request)
        token = _explicit.set(explicit)
        in_request = _in_request.set(True)
        translation.activate(chosen or program_language())
        try:
            response = self.get_response(request)
        finally:
            _explicit.reset(token)
            _in_request.reset(in_request)
        language = translation.get_language() or settings.LANGUAGE_CODE
        response.headers["Content-Language"] = language
        patch_vary_headers(response, ["Accept-Language"])
        request.LANGUAGE_CODE = language
        translation.deactivate()
        return response
