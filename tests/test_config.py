from pathlib import Path

import pytest

from generator.config import load_settings
from generator.errors import ConfigError


def test_precedence_cli_over_suffixed_env_over_env_over_dotenv(tmp_path: Path) -> None:
    dotenv = tmp_path / ".env"
    dotenv.write_text("BUCKET=from-dotenv\nPREFIX=dot/\nFQDN=dot.example.com\nTIMEZONE_BEDROCK_USAGE=Asia/Tokyo\n")
    env = {"BUCKET": "from-env", "BUCKET_BEDROCK_USAGE": "from-suffixed", "PREFIX": "env/", "SOURCE": "demo"}
    s = load_settings({"fqdn": "cli.example.com"}, environ=env, env_file=dotenv)
    assert s.bucket == "from-suffixed"
    assert s.prefix == "env/"
    assert s.fqdn == "cli.example.com"
    assert s.timezone == "Asia/Tokyo"
    assert s.source == "demo"


def test_old_subnet_spelling_is_accepted() -> None:
    s = load_settings({}, environ={"SUBNET_ONLY": "10.0.0.0/8, 2001:db8::/32"}, env_file=None)
    assert [str(n) for n in s.subnets_only] == ["10.0.0.0/8", "2001:db8::/32"]


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    with pytest.raises(ConfigError) as info:
        load_settings(
            {"timezone": "Mars/Olympus", "windows": "7d,2w", "now": "soon"},
            environ={"SUBNETS_ONLY": "10.0.0.300/8"},
            env_file=None,
        )
    message = str(info.value)
    assert "\n" not in message
    for part in ("TIMEZONE: unknown time zone 'Mars/Olympus'", "WINDOWS: unknown window 2w",
                 "NOW: 'soon' is not an ISO 8601", "SUBNETS_ONLY: bad CIDR '10.0.0.300/8'"):  # fmt: skip
        assert part in message
    assert info.value.exit_code == 2


@pytest.mark.parametrize(
    ("toml", "message"),
    [
        ("[aliases]\npeterdir = ['aider']\naider = ['x']\n", "is itself a person"),
        ("[aliases]\na = ['x']\nb = ['x']\n", "mapped twice"),
        ("aliases = [1", "invalid TOML"),
        ("colour = 'red'\n", "unknown key(s) colour"),
        ("session_roles = 'Dev'\n", "session_roles must be a list"),
        ("[[prices]]\nmodel = 'm'\ninput = -1\noutput = 1\n", "prices[0] (m): input must be a non-negative"),
        ("[[prices]]\nmodel = 'm'\ninput = 1\noutput = 1\nroute = 'mars'\n", "unknown route 'mars'"),
        ("[inference_profiles]\nx = 3\n", "inference_profiles.x: give a model id"),
    ],
)
def test_bad_config_files(tmp_path: Path, toml: str, message: str) -> None:
    path = tmp_path / "c.toml"
    path.write_text(toml)
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)").replace("[", r"\[")):
        load_settings({"config": path, "source": "demo"}, environ={}, env_file=None)


def test_unreadable_config(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"CONFIG .*missing\.toml: cannot read it"):
        load_settings({"config": tmp_path / "missing.toml", "source": "demo"}, environ={}, env_file=None)


def test_config_file_from_environment(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "session_roles = ['Dev']\nstrip_prefixes = []\n[aliases]\nann = ['a1']\n"
        "[inference_profiles]\n"
        "'arn:aws:bedrock:us-east-1:1:application-inference-profile/x' = 'amazon.nova-lite-v1:0'\n"
        "[[prices]]\nmodel = 'acme.m'\ninput = 1.5\noutput = 2\n"
    )
    s = load_settings({}, environ={"CONFIG_BEDROCK_USAGE": str(path)}, env_file=None)
    assert s.identity.session_roles == {"Dev"} and s.identity.strip_prefixes == ()
    assert s.identity.aliases == {"a1": "ann"}
    assert len(s.inference_profiles) == 1 and s.prices[0].model == "acme.m"


@pytest.mark.parametrize(
    ("cli", "message"),
    [
        ({"source": "files"}, "--source files needs at least one --logs"),
        ({"source": "demo", "logs": ("x",)}, "--logs goes with --source files"),
        ({"source": "ftp"}, "unknown source 'ftp'"),
    ],
)
def test_source_flags(cli: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(cli, environ={}, env_file=None)


def test_source_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    from botocore.exceptions import NoCredentialsError

    from generator import aws

    real = aws.credentials_problem
    monkeypatch.setattr(aws, "credentials_problem", lambda profile=None: real(profile) if profile else
                        aws.reason(NoCredentialsError()))  # fmt: skip
    with pytest.raises(ConfigError, match=r"^no AWS credentials: set AWS_PROFILE .*; or pass --source demo to try"):
        load_settings({}, environ={}, env_file=None)
    # an unknown profile is named, with the files searched: not "set AWS_PROFILE"
    with pytest.raises(ConfigError, match=r"^AWS profile 'prod-typo' is not in /\S+: fix AWS_PROFILE"):
        load_settings({}, environ={"AWS_PROFILE": "prod-typo"}, env_file=None)
    assert load_settings({"source": "demo"}, environ={}, env_file=None).source == "demo"
    monkeypatch.setattr(aws, "credentials_problem", lambda profile=None: "")
    s = load_settings({}, environ={"AWS_REGION": "eu-west-1"}, env_file=None)
    assert s.source == "cloudwatch" and s.cloudwatch.regions == ("eu-west-1",)
    assert s.cloudwatch.log_groups == ("/aws/bedrock/modelinvocations",)
    assert load_settings({}, environ={"SOURCE": "demo"}, env_file=None).source == "demo"
    assert load_settings({"logs": ("x",)}, environ={"SOURCE": "demo"}, env_file=None).source == "files"
    assert load_settings({"logs": ("x",)}, environ={}, env_file=None).source == "files"
    assert load_settings({"now": "2026-01-01T00:00:00"}, environ={}, env_file=None).now.tzinfo is not None  # type: ignore[union-attr]


def test_a_mistyped_profile_never_builds_the_demo(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from generator.cli import cli

    monkeypatch.delenv("SOURCE")
    monkeypatch.setenv("AWS_PROFILE", "prodd")  # no such profile in the (empty) AWS config
    result = CliRunner().invoke(cli, ["build", "--out", str(tmp_path / "site"), "--env-file", str(tmp_path / "none")])
    assert result.exit_code == 2 and "AWS profile 'prodd' is not in " in result.output
    assert "--source demo" in result.output and not (tmp_path / "site").exists()


def test_zero_settle_lag_is_honoured_and_bad_prices_per_gb_are_errors() -> None:
    base = {"source": "cloudwatch", "regions": ("us-east-1",)}
    assert load_settings({**base, "settle_lag": 0}, environ={}, env_file=None).cloudwatch.settle_lag_hours == 0
    for bad in ("-0.01", "cheap", "NaN", "Infinity"):
        with pytest.raises(ConfigError, match="--insights-price-per-gb") as info:
            load_settings({**base, "insights_price_per_gb": bad}, environ={}, env_file=None)
        assert info.value.exit_code == 2


@pytest.mark.parametrize(("raw", "expected"), [("true", True), ("1", True), ("no", False), ("off", False)])
def test_cost_explorer_flag_values(raw: str, expected: bool) -> None:
    settings = load_settings({"source": "demo"}, environ={"COST_EXPLORER": raw}, env_file=None)
    assert settings.cost_explorer is expected


def test_cost_explorer_maybe_is_an_error() -> None:
    with pytest.raises(ConfigError, match="COST_EXPLORER: 'maybe' is not true or false"):
        load_settings({"source": "demo", "cost_explorer": False}, environ={"COST_EXPLORER": "maybe"}, env_file=None)


def test_every_config_file_error_is_listed_together(tmp_path: Path) -> None:
    path = tmp_path / "c.toml"
    path.write_text(
        "session_roles = 'Dev'\n[aliases]\na = ['x']\nb = ['x']\n[inference_profiles]\nx = 3\n"
        "[[prices]]\nmodel = 'm'\ninput = -1\noutput = 1\n"
    )
    with pytest.raises(ConfigError) as info:
        load_settings({"config": path, "source": "demo"}, environ={}, env_file=None)
    message = str(info.value)
    for part in ("mapped twice", "session_roles must be a list", "inference_profiles.x", "input must be"):
        assert part in message, message


def test_pricing_show_works_offline_with_credentials_and_no_region(monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from generator.cli import cli

    monkeypatch.delenv("SOURCE")
    monkeypatch.delenv("AWS_DEFAULT_REGION")
    result = CliRunner().invoke(cli, ["pricing", "show", "--model", "nova-lite"])
    assert result.exit_code == 0, result.output
    assert "amazon.nova-lite-v1:0" in result.output
