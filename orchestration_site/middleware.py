"""A request whose path or query parameters hold a NUL character is refused with a 400, before
any view runs.

PostgreSQL cannot store NUL in text: a NUL that reaches a query (an API parameter, an admin list
filter, an admin object id in the path) raises ``DataError`` there, a 500, where SQLite answers.
No real link or form sends one, so one rule here holds for every view and both databases: the
API answers ``{"detail": ...}`` like its other 400s, every other page a one-line text."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse

NUL = "\x00"
API_PREFIX = "/api/"


def nul_problem(request: HttpRequest) -> str | None:
    """Why the request is refused (one line, the NUL shown escaped), or None."""
    if NUL in request.path:
        return "the URL's path holds a NUL character"
    for name, values in request.GET.lists():
        if NUL in name or any(NUL in value for value in values):
            shown = name.replace(NUL, "\\x00")[:60]
            return f"the query parameter {shown!r} holds a NUL character"
    return None


class RejectNulMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        problem = nul_problem(request)
        if problem is None:
            return self.get_response(request)
        if request.path.startswith(API_PREFIX):
            return JsonResponse({"detail": f"Bad request: {problem}."}, status=400)
        return HttpResponseBadRequest(f"Bad request: {problem}.\n", content_type="text/plain; charset=utf-8")
