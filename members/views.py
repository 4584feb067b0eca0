"""The unsubscribe page: the signed link in every email works without login. GET shows a
button (link scanners in mail filters follow links but don't submit forms); POST turns the
consent off, as does a mail client's one-click POST (RFC 8058, List-Unsubscribe-Post)."""

from django.shortcuts import render
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from members.services import MARKETING, member_unsubscribe, unsubscribe_token_read


# The signed token is the credential, and a mail client's one-click POST has no CSRF token.
@csrf_exempt
@require_http_methods(["GET", "POST"])
def unsubscribe(request, token: str):
    if request.method == "GET":
        found = unsubscribe_token_read(token)
        context = {"valid": found is not None, "marketing": bool(found) and found[1] == MARKETING}
        return render(request, "members/unsubscribe.html", context, status=200 if found else 404)
    done = member_unsubscribe(token=token)
    context = {
        "valid": done is not None,
        "done": True,
        "marketing": bool(done) and done[1] == MARKETING,
    }
    return render(request, "members/unsubscribe.html", context, status=200 if done else 404)
