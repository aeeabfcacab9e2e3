"""The sign-in Lambda behind `/_auth/*`: Cognito's hosted login with PKCE, and the session cookie the edge checks.

Owns /_auth/login (send the viewer to Cognito), /_auth/callback (exchange the code at Cognito's token endpoint,
check the ID token's issuer, audience and expiry, set the signed session cookie) and /_auth/logout. The cookie
format is the one `edge.js` verifies. Its configuration comes from the stack: the audience and the session
secret's name in the environment, the Cognito domain, client id and site URL in an SSM parameter (read once per
container), and the session keys in that secret (read again every few minutes, so a rotation reaches it).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import posixpath
import secrets
import time
import urllib.parse
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from generator.deploy.sessionkeys import SESSION_SECONDS, SessionKeys, read_secret

COOKIE = "__Host-bedrock-usage-session"
FLOW_COOKIE = "__Host-bedrock-usage-signin"
FLOW_SECONDS = 600
KEYS_SECONDS = 300  # how long a warm container signs with the keys it read before reading them again


@dataclass(frozen=True)
class SignInConfig:
    """What the sign-in needs to know: the keys (Secrets Manager), the audience (environment), Cognito's side (SSM)."""

    keys: SessionKeys  # shared with the edge function through its KeyValueStore
    audience: str
    domain: str  # the user pool's hosted-login domain, e.g. bus-1234.auth.us-east-1.amazoncognito.com
    client_id: str
    site: str  # https://usage.example.com
    issuer: str  # https://cognito-idp.<region>.amazonaws.com/<pool id>
    identity_provider: str = ""  # a federated provider's name: skip Cognito's own page


def _mac(key: str, text: str) -> str:
    return hmac.new(key.encode(), text.encode(), hashlib.sha256).hexdigest()


def session_cookie(key: str, audience: str, user: str, now: float, seconds: int = SESSION_SECONDS) -> str:
    """The cookie value the edge accepts until `now + seconds`: `v1|expiry|audience|user.` + HMAC."""
    token = f"v1|{int(now) + seconds}|{audience}|{hashlib.sha256(user.encode()).hexdigest()[:16]}"
    return f"{token}.{_mac(key, token)}"


def _signed(value: str, keys: SessionKeys, now: float) -> str:
    """The text before the signature when one of the keys accepted at `now` signed it, else ""."""
    token, _, signature = value.rpartition(".")
    good = any(hmac.compare_digest(signature, _mac(key, token)) for key in keys.accepted(now))
    return token if token and good else ""


def session_valid(value: str, keys: SessionKeys, audience: str, now: float) -> bool:
    """The edge's check, in Python (tests run both against the same cookies)."""
    token = _signed(value, keys, now) if len(value) <= 1024 else ""
    if not token:
        return False
    parts = token.split("|")
    return len(parts) == 4 and parts[0] == "v1" and parts[2] == audience and parts[1].isdigit() and int(parts[1]) > now


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _set_cookie(name: str, value: str, seconds: int) -> str:
    return f"{name}={value}; Max-Age={seconds}; Path=/; Secure; HttpOnly; SameSite=Lax"


def _redirect(location: str, cookies: list[str] | None = None) -> dict[str, Any]:
    headers = {"Location": location, "Cache-Control": "no-store"}
    return {"statusCode": 302, "headers": headers, "cookies": cookies or [], "body": ""}


def _refuse(status: int, text: str) -> dict[str, Any]:
    return {"statusCode": status, "headers": {"Content-Type": "text/plain; charset=utf-8", "Cache-Control": "no-store"},
            "cookies": [_set_cookie(FLOW_COOKIE, "", 0)], "body": text + "\n"}  # fmt: skip


def _next_path(raw: str) -> str:
    """Where to go after signing in: a path on this site only, normalised; "/" for anything else.

    Browsers drop tabs and newlines from a URL and read a backslash as a slash, so `/\t/evil.com` would leave
    the site: a path with a control character or a backslash is refused outright, and no path may start `//`.
    """
    if len(raw) > 512 or not raw.startswith("/") or any(c < " " or c in "\x7f\\" for c in raw):
        return "/"
    parts = urllib.parse.urlsplit(raw)
    if parts.scheme or parts.netloc:
        return "/"
    path = "/" + posixpath.normpath(parts.path).lstrip("/")  # no dot segments, and never `//host`
    safe = "/-._~!$&'()*+,;=:@%"
    query = urllib.parse.quote(parts.query, safe=safe + "?")
    return urllib.parse.quote(path, safe=safe) + (f"?{query}" if query else "")


def login(config: SignInConfig, query: Mapping[str, str], now: float) -> dict[str, Any]:
    """Send the viewer to Cognito's hosted login, remembering the PKCE verifier and state in a signed cookie."""
    verifier, state = _b64(secrets.token_bytes(32)), _b64(secrets.token_bytes(16))
    flow = _b64(json.dumps({"v": verifier, "s": state, "n": _next_path(query.get("next", "/")),
                            "e": int(now) + FLOW_SECONDS}).encode())  # fmt: skip
    params = {
        "response_type": "code", "client_id": config.client_id, "redirect_uri": f"{config.site}/_auth/callback",
        "scope": "openid email", "state": state, "code_challenge_method": "S256",
        "code_challenge": _b64(hashlib.sha256(verifier.encode()).digest()),
    }  # fmt: skip
    if config.identity_provider:
        params["identity_provider"] = config.identity_provider
    location = f"https://{config.domain}/oauth2/authorize?{urllib.parse.urlencode(params)}"
    return _redirect(location, [_set_cookie(FLOW_COOKIE, f"{flow}.{_mac(config.keys.current, flow)}", FLOW_SECONDS)])


def callback(
    config: SignInConfig,
    query: Mapping[str, str],
    cookies: Mapping[str, str],
    now: float,
    exchange: Callable[[str, dict[str, str]], dict[str, Any]],
) -> dict[str, Any]:
    """Finish the sign-in: the state must match our flow cookie and the token endpoint must vouch for the user."""
    flow = _signed(cookies.get(FLOW_COOKIE, ""), config.keys, now)
    if not flow:
        return _refuse(400, "This sign-in did not start here, or took too long: open the site again.")
    started = json.loads(_unb64(flow))
    if started["e"] < now or not hmac.compare_digest(str(started["s"]), query.get("state", "")):
        return _refuse(400, "This sign-in expired or does not match: open the site again.")
    if "code" not in query:
        return _refuse(403, "Sign-in was refused.")
    tokens = exchange(f"https://{config.domain}/oauth2/token", {
        "grant_type": "authorization_code", "client_id": config.client_id, "code": query["code"],
        "redirect_uri": f"{config.site}/_auth/callback", "code_verifier": started["v"],
    })  # fmt: skip
    # The ID token came straight from the token endpoint over TLS, so its issuer and audience are checked;
    # its signature need not be (OpenID Connect Core 3.1.3.7).
    parts = str(tokens.get("id_token", "")).split(".")
    claims = json.loads(_unb64(parts[1])) if len(parts) == 3 else {}
    if (
        not isinstance(claims, dict)
        or claims.get("iss") != config.issuer
        or claims.get("aud") != config.client_id
        or claims.get("exp", 0) < now
    ):
        return _refuse(403, "Sign-in was refused: the identity token is not for this site.")
    value = session_cookie(config.keys.current, config.audience, str(claims.get("sub", "")), now)
    return _redirect(started["n"], [_set_cookie(COOKIE, value, SESSION_SECONDS), _set_cookie(FLOW_COOKIE, "", 0)])


def logout(config: SignInConfig) -> dict[str, Any]:
    """Forget the session here and at Cognito."""
    params = urllib.parse.urlencode({"client_id": config.client_id, "logout_uri": f"{config.site}/"})
    return _redirect(f"https://{config.domain}/logout?{params}", [_set_cookie(COOKIE, "", 0)])


def post_form(url: str, form: dict[str, str]) -> dict[str, Any]:
    """POST a form to Cognito's token endpoint and return its JSON answer."""
    request = urllib.request.Request(url, data=urllib.parse.urlencode(form).encode(), method="POST",
                                     headers={"Content-Type": "application/x-www-form-urlencoded"})  # fmt: skip
    with urllib.request.urlopen(request, timeout=10) as response:
        return dict(json.loads(response.read(65536)))


def route(
    config: SignInConfig,
    event: Mapping[str, Any],
    now: float | None = None,
    exchange: Callable[[str, dict[str, str]], dict[str, Any]] = post_form,
) -> dict[str, Any]:
    """Answer one Lambda function URL request (payload format 2.0) for a path under /_auth/."""
    when = time.time() if now is None else now
    path = str(event.get("rawPath", ""))
    query = dict(urllib.parse.parse_qsl(str(event.get("rawQueryString", "")), keep_blank_values=True))
    cookies = dict(c.split("=", 1) for c in event.get("cookies") or [] if "=" in c)
    if path == "/_auth/login":
        return login(config, query, when)
    if path == "/_auth/callback":
        try:
            return callback(config, query, cookies, when, exchange)
        except (ValueError, KeyError, TypeError, OSError):
            return _refuse(403, "Sign-in failed: open the site again.")
    if path == "/_auth/logout":
        return logout(config)
    return _refuse(404, "Not found.")


_CONFIG: list[tuple[SignInConfig, float]] = []  # this container's settings, and when it read the keys


def handler(event: Mapping[str, Any], context: Any) -> dict[str, Any]:
    """The Lambda entry point (`generator.deploy.signin.handler`)."""
    from generator import aws
    from generator.config import sign_in_environment

    now = time.time()
    if not _CONFIG or now - _CONFIG[0][1] > KEYS_SECONDS:
        env = sign_in_environment()
        keys = read_secret(aws.client("secretsmanager"), env["secret"])
        if _CONFIG:
            config = replace(_CONFIG[0][0], keys=keys)
        else:
            doc = json.loads(aws.client("ssm").get_parameter(Name=env["parameter"])["Parameter"]["Value"])
            site, provider = doc["site"].rstrip("/"), doc.get("identity_provider", "")
            config = SignInConfig(keys, env["audience"], doc["domain"], doc["client_id"], site, doc["issuer"],
                                  provider)  # fmt: skip
        _CONFIG[:] = [(config, now)]
    return route(_CONFIG[0][0], event, now)
