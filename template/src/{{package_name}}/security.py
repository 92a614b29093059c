"""HTTP hardening: security headers on every response, which proxies to trust,
redirects that stay on this site, and private responses kept out of caches."""

from urllib.parse import urlsplit

from flask import Flask, g, request, session
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

# Scripts, styles, fonts and images come from this site only, and nothing inline
# runs, so injected markup cannot execute. The pages need nothing more; loosen
# one directive at a time if yours do.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "img-src 'self' data:",
        "object-src 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ]
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Permissions-Policy": "camera=(), geolocation=(), microphone=()",
}
SECURITY_HEADER_NAMES = frozenset(name.lower() for name in SECURITY_HEADERS)
# Two years, as HSTS preload lists require; sent over HTTPS only.
HSTS = "max-age=63072000; includeSubDomains"
REDIRECTS = frozenset({301, 302, 303, 307, 308})


def init_app(app: Flask) -> None:
    if hops := app.config["PROXY_COUNT"]:
        # Trust exactly as many X-Forwarded-For/-Proto values as there are
        # proxies; more would let clients spoof their address or scheme.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    headers = response.headers
    # A view may set its own; one pass over the headers finds which, where a
    # setdefault per header would search them all each time.
    present = {name.lower() for name, _ in headers}
    if present.isdisjoint(SECURITY_HEADER_NAMES):
        headers.extend(SECURITY_HEADERS.items())
    else:
        headers.extend(
            (name, value)
            for name, value in SECURITY_HEADERS.items()
            if name.lower() not in present
        )
    if request.is_secure and "strict-transport-security" not in present:
        headers["Strict-Transport-Security"] = HSTS
    if "cache-control" not in present and is_private(present):
        # Pages for a signed-in user, and responses that set cookies, must
        # not be kept by a shared cache or the browser's history.
        headers["Cache-Control"] = "no-store"
    if response.status_code in REDIRECTS:
        keep_redirect_on_this_site(response)
    return response


def is_private(present: set[str]) -> bool:
    # With accounts, Flask-Login keeps the user it loaded for this request in
    # g._login_user. Flask writes a changed session's cookie after this hook.
    user = g.get("_login_user")
    if user is not None and user.is_authenticated:
        return True
    # Whatever answers a request with credentials (an API token, say) is that
    # caller's.
    if "Authorization" in request.headers:
        return True
    return "set-cookie" in present or session.modified


def keep_redirect_on_this_site(response: Response) -> None:
    """Make a redirect to this site relative.

    Werkzeug builds the redirects of routing (a doubled slash merged, a missing
    trailing slash added) from the request's Host header, which the client
    chooses: relative, they lead to wherever the client already is.
    """
    location = response.headers.get("Location", "")
    parts = urlsplit(location)
    if not parts.netloc or parts.scheme != request.scheme:
        return
    if parts.netloc.lower() != request.host.lower():
        return
    # "//x" or "/\\x" would leave the site: keep a single leading slash.
    path = "/" + parts.path.lstrip("/\\")
    query = f"?{parts.query}" if parts.query else ""
    fragment = f"#{parts.fragment}" if parts.fragment else ""
    response.headers["Location"] = path + query + fragment
