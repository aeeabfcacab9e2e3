"""The HTTP response headers the site is served with, in production and in `serve`.

One definition, used by the local preview server and the CloudFront response-headers policy,
so what works locally works in production.
"""

CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"
)

SECURITY_HEADERS = {
    "Content-Security-Policy": CONTENT_SECURITY_POLICY,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Opener-Policy": "same-origin",
}

# Sent by CloudFront only: browsers ignore it over plain-HTTP localhost.
HSTS = "max-age=63072000; includeSubDomains"

CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".json": "application/json; charset=utf-8",
    ".csv": "text/csv; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
    ".ico": "image/x-icon",
    ".txt": "text/plain; charset=utf-8",
}


def content_type(path: str) -> str:
    """Return the Content-Type for a site path, with a charset for text."""
    for suffix, kind in CONTENT_TYPES.items():
        if path.endswith(suffix):
            return kind
    return "application/octet-stream"
