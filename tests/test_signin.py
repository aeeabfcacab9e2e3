"""The sign-in Lambda (/_auth/*) and the session cookie it sets, checked by the edge function itself under node."""

import base64
import json
import subprocess
import urllib.parse
from typing import Any

import boto3
import pytest
from moto import mock_aws

from generator.deploy import signin
from generator.deploy.sessionkeys import SessionKeys
from generator.deploy.signin import COOKIE, FLOW_COOKIE, SignInConfig, route, session_cookie, session_valid
from tests.conftest import ROOT

KEY = "0123456789abcdef" * 4
KEYS = SessionKeys(KEY)
NOW = 1_795_000_000.0
ISSUER = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_pool"
CONFIG = SignInConfig(KEYS, "bedrock-usage-site:usage", "bus-1.auth.us-east-1.amazoncognito.com", "client-1",
                      "https://usage.example.com", ISSUER)  # fmt: skip


def cookies_of(response: dict[str, Any]) -> dict[str, str]:
    return {c.split("=", 1)[0]: c.split("=", 1)[1].split(";", 1)[0] for c in response["cookies"]}


def id_token(**claims: Any) -> str:
    body = {"iss": CONFIG.issuer, "aud": "client-1", "exp": NOW + 3600, "sub": "u-1", "email": "a@example.com"}
    body.update(claims)
    part = base64.urlsafe_b64encode(json.dumps(body).encode()).rstrip(b"=").decode()
    return f"eyJhbGciOiJSUzI1NiJ9.{part}.signature"


def start(next_path: str = "/usage-30d.html") -> tuple[dict[str, str], dict[str, str]]:
    response = route(CONFIG, {"rawPath": "/_auth/login", "rawQueryString": f"next={next_path}"}, NOW)
    assert response["statusCode"] == 302
    query = dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(response["headers"]["Location"]).query))
    return query, cookies_of(response)


def finish(state: str, flow: dict[str, str], token: str, now: float = NOW) -> tuple[dict[str, Any], list[Any]]:
    calls: list[Any] = []

    def exchange(url: str, form: dict[str, str]) -> dict[str, Any]:
        calls.append((url, form))
        return {"id_token": token, "access_token": "a", "token_type": "Bearer"}

    cookies = [f"{k}={v}" for k, v in flow.items()]
    event = {"rawPath": "/_auth/callback", "rawQueryString": f"code=c-1&state={state}", "cookies": cookies}
    return route(CONFIG, event, now, exchange), calls


def test_login_sends_the_viewer_to_cognito_with_pkce() -> None:
    query, flow = start()
    assert query["client_id"] == "client-1" and query["response_type"] == "code"
    assert query["redirect_uri"] == "https://usage.example.com/_auth/callback"
    assert query["code_challenge_method"] == "S256" and len(query["code_challenge"]) == 43 and query["state"]
    assert FLOW_COOKIE in flow and "identity_provider" not in query


def test_a_signed_in_viewer_gets_a_cookie_the_edge_accepts() -> None:
    query, flow = start()
    response, calls = finish(query["state"], flow, id_token())
    assert response["statusCode"] == 302 and response["headers"]["Location"] == "/usage-30d.html"
    ((url, form),) = calls
    assert url == "https://bus-1.auth.us-east-1.amazoncognito.com/oauth2/token" and form["code"] == "c-1"
    assert form["code_verifier"] and form["client_id"] == "client-1"
    value = cookies_of(response)[COOKIE]
    assert session_valid(value, KEYS, CONFIG.audience, NOW + 60)
    assert not session_valid(value, KEYS, CONFIG.audience, NOW + signin.SESSION_SECONDS + 1)
    set_cookie = next(c for c in response["cookies"] if c.startswith(COOKIE))
    assert all(flag in set_cookie for flag in ("Secure", "HttpOnly", "SameSite=Lax", "Path=/"))


def edge_accepts(value: str, audience: str = "bedrock-usage-site:usage", keys: SessionKeys = KEYS) -> str:
    """Run the edge function under node with this cookie and these keys in its KeyValueStore."""
    loader = (ROOT / "tests/js/edge-loader.mjs").as_uri()
    script = f"""
      import {{ load }} from {json.dumps(loader)};
      const handler = load({{ signIn: "cognito", stack: {json.dumps(audience.removeprefix("bedrock-usage-site:"))},
                              store: {{ "session-keys": {json.dumps(keys.to_json())} }} }});
      const request = {{ uri: "/index.html", cookies: {{ {json.dumps(COOKIE)}: {{ value: {json.dumps(value)} }} }} }};
      const out = await handler({{ viewer: {{ ip: "198.51.100.1" }}, request }});
      console.log(out === request ? "pass" : String(out.statusCode));
    """
    done = subprocess.run(["node", "--input-type=module", "-e", script], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_the_edge_and_the_lambda_agree_on_every_cookie() -> None:
    import time

    now = time.time()
    good = session_cookie(KEY, "bedrock-usage-site:usage", "u", now)
    assert edge_accepts(good) == "pass"
    assert edge_accepts(session_cookie(KEY, "bedrock-usage-site:usage", "u", now - 10, 5)) == "302"  # expired
    assert edge_accepts(session_cookie("f" * 64, "bedrock-usage-site:usage", "u", now)) == "302"  # another key
    assert edge_accepts(good, audience="bedrock-usage-site:other") == "302"  # another stack's cookie
    rotated = KEYS.rotated(now)  # the old key stays good for one session lifetime, in both
    assert edge_accepts(good, keys=rotated) == "pass" and session_valid(good, rotated, CONFIG.audience, now)
    assert edge_accepts(session_cookie(rotated.current, CONFIG.audience, "u", now), keys=rotated) == "pass"
    ended = SessionKeys(rotated.current, KEY, int(now) - 1)
    assert edge_accepts(good, keys=ended) == "302" and not session_valid(good, ended, CONFIG.audience, now)


@pytest.mark.parametrize(
    ("case", "status"),
    [("wrong state", 400), ("no flow cookie", 400), ("tampered flow", 400), ("late", 400),
     ("wrong audience", 403), ("wrong issuer", 403), ("expired token", 403), ("no token", 403)],
)  # fmt: skip
def test_a_callback_that_does_not_match_sets_no_session(case: str, status: int) -> None:
    query, flow = start()
    state, token, now = query["state"], id_token(), NOW
    if case == "wrong state":
        state = "x" + state
    elif case == "no flow cookie":
        flow = {}
    elif case == "tampered flow":
        flow = {FLOW_COOKIE: flow[FLOW_COOKIE][:-1] + ("0" if flow[FLOW_COOKIE][-1] != "0" else "1")}
    elif case == "late":
        now = NOW + signin.FLOW_SECONDS + 1
    elif case == "wrong audience":
        token = id_token(aud="someone-else")
    elif case == "wrong issuer":
        token = id_token(iss="https://evil.example.com")
    elif case == "expired token":
        token = id_token(exp=NOW - 1)
    else:
        token = "not-a-jwt"
    response, _ = finish(state, flow, token, now)
    assert response["statusCode"] == status, case
    assert COOKIE not in cookies_of(response)


@pytest.mark.parametrize("target", ["//evil.example.com/", "https://evil.example.com/", "/\\evil.example.com"])
def test_after_sign_in_only_paths_on_this_site(target: str) -> None:
    query, flow = start(urllib.parse.quote(target, safe=""))
    response, _ = finish(query["state"], flow, id_token())
    assert response["headers"]["Location"] == "/"


def test_logout_and_unknown_paths() -> None:
    out = route(CONFIG, {"rawPath": "/_auth/logout"}, NOW)
    assert out["statusCode"] == 302 and "/logout?client_id=client-1" in out["headers"]["Location"]
    assert cookies_of(out)[COOKIE] == ""
    assert route(CONFIG, {"rawPath": "/_auth/other"}, NOW)["statusCode"] == 404


def test_a_federated_pool_skips_cognitos_own_page() -> None:
    federated = SignInConfig(*[getattr(CONFIG, f) for f in ("keys", "audience", "domain", "client_id", "site",
                                                              "issuer")], identity_provider="company-saml")  # fmt: skip
    response = route(federated, {"rawPath": "/_auth/login"}, NOW)
    assert "identity_provider=company-saml" in response["headers"]["Location"]


def test_the_handler_reads_its_settings_from_the_stack(monkeypatch: pytest.MonkeyPatch) -> None:
    from generator.deploy import sessionkeys
    from generator.errors import ConfigError

    settings = {"domain": CONFIG.domain, "client_id": "client-1", "site": "https://usage.example.com/",
                "issuer": CONFIG.issuer, "identity_provider": ""}  # fmt: skip
    monkeypatch.setattr(signin, "_CONFIG", [])
    clock = [NOW]
    monkeypatch.setattr(signin.time, "time", lambda: clock[0])
    with mock_aws():
        boto3.client("ssm", region_name="us-east-1").put_parameter(
            Name="/usage/sign-in", Value=json.dumps(settings), Type="String"
        )
        secrets = boto3.client("secretsmanager", region_name="us-east-1")
        arn = secrets.create_secret(Name="usage-session", SecretString=KEYS.to_json())["ARN"]
        environment = {"SESSION_SECRET": arn, "AUDIENCE": "bedrock-usage-site:usage",
                       "SIGN_IN_PARAMETER": "/usage/sign-in", "AWS_REGION": "us-east-1"}  # fmt: skip
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        response = signin.handler({"rawPath": "/_auth/login", "rawQueryString": ""}, None)
        assert response["statusCode"] == 302 and response["headers"]["Location"].startswith(f"https://{CONFIG.domain}/")
        flow = next(c for c in response["cookies"] if c.startswith(FLOW_COOKIE)).split(";")[0]
        assert signin._signed(flow.split("=", 1)[1], KEYS, NOW)  # signed with the secret's key

        rotated = KEYS.rotated(NOW)  # as rotate-session-key leaves the secret
        secrets.put_secret_value(SecretId=arn, SecretString=rotated.to_json())
        clock[0] = NOW + 60  # a warm container keeps the keys it read for a few minutes ...
        assert signin._CONFIG[0][0].keys == KEYS and signin.handler({"rawPath": "/_auth/login"}, None)
        assert signin._CONFIG[0][0].keys == KEYS
        clock[0] = NOW + signin.KEYS_SECONDS + 1  # ... then reads them again
        again = signin.handler({"rawPath": "/_auth/login"}, None)
        assert signin._CONFIG[0][0].keys == rotated
        flow = next(c for c in again["cookies"] if c.startswith(FLOW_COOKIE)).split(";")[0].split("=", 1)[1]
        assert signin._signed(flow, SessionKeys(rotated.current), clock[0])

        monkeypatch.delenv("SESSION_SECRET")
        monkeypatch.setattr(signin, "_CONFIG", [])
        with pytest.raises(ConfigError, match="SESSION_SECRET"):
            signin.handler({"rawPath": "/_auth/login"}, None)
        secrets.put_secret_value(SecretId=arn, SecretString="plain text")
        monkeypatch.setenv("SESSION_SECRET", arn)
        with pytest.raises(ValueError):
            sessionkeys.read_secret(secrets, arn)


def test_a_sign_in_started_before_a_rotation_finishes_after_it() -> None:
    query, flow = start()  # the flow cookie is signed with KEY
    rotated = SignInConfig(KEYS.rotated(NOW), *[getattr(CONFIG, f) for f in ("audience", "domain", "client_id",
                                                                            "site", "issuer")])  # fmt: skip
    cookies = [f"{k}={v}" for k, v in flow.items()]
    event = {"rawPath": "/_auth/callback", "rawQueryString": f"code=c-1&state={query['state']}", "cookies": cookies}
    token = id_token()
    response = route(rotated, event, NOW + 5, lambda url, form: {"id_token": token})
    assert response["statusCode"] == 302
    value = cookies_of(response)[COOKIE]
    assert session_valid(value, SessionKeys(rotated.keys.current), CONFIG.audience, NOW + 10)  # the new key signs


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("/usage-30d.html", "/usage-30d.html"), ("/\t/evil.com", "/"), ("/\n/evil.com", "/"), ("/\r\n/x", "/"),
        ("//evil.com", "/"), ("/\\evil.com", "/"), ("https://evil.com/", "/"),
        ("/a/../../person/x.html", "/person/x.html"),
        ("/person/j\u00f6rg.html", "/person/j%C3%B6rg.html"), ("/a?b=c", "/a?b=c"), ("/" + "a" * 600, "/"),
        ("/x\x7f", "/"), ("relative.html", "/"),
    ],
)  # fmt: skip
def test_next_is_a_normalised_same_origin_path(raw: str, expected: str) -> None:
    assert signin._next_path(raw) == expected


@pytest.mark.parametrize(
    "encoded", ["%2F%09%2Fevil.com", "%2F%0A%2Fevil.com", "%2F%0D%0ALocation:%20x", "%2F%5Cevil.com"]
)
def test_an_encoded_control_character_in_next_never_leaves_the_site(encoded: str) -> None:
    response = signin.route(CONFIG, {"rawPath": "/_auth/login", "rawQueryString": f"next={encoded}"}, NOW)
    flow = next(c for c in response["cookies"] if c.startswith(signin.FLOW_COOKIE))
    value = flow.split("=", 1)[1].split(";", 1)[0].rsplit(".", 1)[0]  # the flow, then its MAC
    padded = value + "=" * (-len(value) % 4)
    assert json.loads(base64.urlsafe_b64decode(padded))["n"] == "/"
    assert all("\r" not in v and "\n" not in v for v in response["headers"].values())
