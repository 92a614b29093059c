"""HTTP hardening: security headers on every response, which proxies to trust,
redirects that stay on this site, and private responses kept out of caches."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from flask import Flask, g, request, session
from werkzeug.exceptions import SecurityError
from werkzeug.middleware.proxy_fix import ProxyFix
from werkzeug.wrappers import Response

if TYPE_CHECKING:
    from _typeshed.wsgi import StartResponse, WSGIApplication, WSGIEnvironment

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
# Health checks run beside the app (the image's HEALTHCHECK, Kubernetes'
# probes) and call it by a loopback name, which TRUSTED_HOSTS need not list.
LOOPBACK_HOSTS = ("localhost", "127.0.0.1")
HEALTH_CHECKS = "health"


def init_app(app: Flask) -> None:
    """Call after logs.init_app, so that ProxyFix wraps the access log and gives
    it the client's address."""
    app.wsgi_app = SecurityHeaders(app.wsgi_app)  # type: ignore[method-assign]
    if hops := app.config["PROXY_COUNT"]:
        # Trust exactly as many X-Forwarded-For/-Proto values as there are
        # proxies; more would let clients spoof their address or scheme.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.after_request(keep_private_and_local)
    if hosts := app.config["TRUSTED_HOSTS"]:
        added = [host for host in LOOPBACK_HOSTS if host not in hosts]
        app.config["TRUSTED_HOSTS"] = [*hosts, *added]
        if added:
            app.before_request(HealthChecksOnly(frozenset(added)))


class HealthChecksOnly:
    """Refuse the loopback names added to TRUSTED_HOSTS for the health checks
    everywhere but the health checks.

    Behind a proxy that passes the Host on (deploy/nginx.conf), any client can
    send one: let in everywhere, a forged "localhost" passed the very check
    TRUSTED_HOSTS asks for, and pages built their absolute URLs on it.
    """

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def __call__(self) -> None:
        host = request.host
        if request.blueprint != HEALTH_CHECKS and host.partition(":")[0] in self.names:
            # As Werkzeug refuses any other host that is not trusted.
            raise SecurityError(f"Host {host!r} is not trusted.")


class SecurityHeaders:
    """WSGI middleware adding the security headers to every response, but those
    its view set itself; HSTS only to requests that came over HTTPS.

    WSGI's plain list of headers takes them in one step, where Werkzeug's
    header objects would check and copy each of them again on every request.
    """

    def __init__(self, app: WSGIApplication) -> None:
        self.app = app

    def __call__(
        self, environ: WSGIEnvironment, start_response: StartResponse
    ) -> Iterable[bytes]:
        secure = environ["wsgi.url_scheme"] == "https"

        def start(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], object]:
            present = {name.lower() for name, _ in headers}
            if present.isdisjoint(SECURITY_HEADER_NAMES):
                headers.extend(SECURITY_HEADERS.items())
            else:
                headers.extend(
                    (name, value)
                    for name, value in SECURITY_HEADERS.items()
                    if name.lower() not in present
                )
            if secure and "strict-transport-security" not in present:
                headers.append(("Strict-Transport-Security", HSTS))
            return start_response(status, headers, exc_info)

        return self.app(environ, start)


def keep_private_and_local(response: Response) -> Response:
    if is_private(response) and "Cache-Control" not in response.headers:
        # Pages for a signed-in user, and responses that set cookies, must
        # not be kept by a shared cache or the browser's history.
        response.headers["Cache-Control"] = "no-store"
    if response.status_code in REDIRECTS:
        keep_redirect_on_this_site(response)
    return response


def is_private(response: Response) -> bool:
    # With accounts, Flask-Login keeps the user it loaded for this request in
    # g._login_user. Flask writes a changed session's cookie after this hook.
    user = g.get("_login_user")
    if user is not None and user.is_authenticated:
        return True
    # Whatever answers a request with credentials (an API token, say) is that
    # caller's.
    if "HTTP_AUTHORIZATION" in request.environ:
        return True
    return session.modified or "Set-Cookie" in response.headers


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
