"""HTTP hardening: security headers on every response, and which proxies to trust."""

from flask import Flask, request
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
# Two years, as HSTS preload lists require; sent over HTTPS only.
HSTS = "max-age=63072000; includeSubDomains"


def init_app(app: Flask) -> None:
    if hops := app.config["PROXY_COUNT"]:
        # Trust exactly as many X-Forwarded-For/-Proto values as there are
        # proxies; more would let clients spoof their address or scheme.
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops)  # type: ignore[method-assign]
    app.after_request(add_security_headers)


def add_security_headers(response: Response) -> Response:
    # A view may set its own; one pass over the headers finds which, where a
    # setdefault per header would search them all each time.
    present = {name.lower() for name, _ in response.headers}
    response.headers.extend(
        (name, value)
        for name, value in SECURITY_HEADERS.items()
        if name.lower() not in present
    )
    if request.is_secure and "strict-transport-security" not in present:
        response.headers["Strict-Transport-Security"] = HSTS
    return response
