import pytest

from generator.identity import IdentityRules, parse_aliases, person_of

A = "arn:aws:iam::123456789012:"
S = "arn:aws:sts::123456789012:"
RULES = IdentityRules(
    session_roles=frozenset({"DeveloperAccess"}),
    strip_prefixes=("bedrock-",),
    aliases={"aider": "peterdir", "dirkcli": "peterdir"},
)


@pytest.mark.parametrize(
    ("principal", "person", "rule"),
    [
        (A + "user/peterdir", "peterdir", "iam-user"),
        (A + "user/engineering/team-a/carol", "carol", "iam-user"),
        (A + "user/aider", "peterdir", "iam-user, alias aider"),
        (A + "user/bedrock-dirkcli", "peterdir", "iam-user, strip bedrock-, alias dirkcli"),
        (S + "assumed-role/bedrock-peterdir/botocore-session-1", "peterdir", "assumed-role, strip bedrock-"),
        (S + "assumed-role/ci-runner/i-0abc", "ci-runner", "assumed-role"),
        (S + "assumed-role/DeveloperAccess/frank", "frank", "session-role"),
        (S + "assumed-role/DeveloperAccess/a.b=c,d+e@x-y", "a.b=c,d+e@x-y", "session-role"),
        (S + "assumed-role/AWSReservedSSO_Admins_0123456789abcdef/alice@example.com",
         "alice@example.com", "sso-session"),
        (S + "federated-user/bob", "bob", "federated-user"),
        (A + "root", "root", "root"),
        ("arn:aws-us-gov:iam::123456789012:user/gov", "gov", "iam-user"),
        ("arn:aws-cn:sts::123456789012:assumed-role/r/s", "r", "assumed-role"),
        ("arn:aws:iam::123456789012:user/bedrock-", "bedrock-", "iam-user"),
        ("not-an-arn", "not-an-arn", "unrecognised"),
        (A + "group/devs", A + "group/devs", "unrecognised"),
    ],
)  # fmt: skip
def test_person_of(principal: str, person: str, rule: str) -> None:
    audit = person_of(principal, RULES)
    assert (audit.person, audit.rule) == (person, rule)
    assert audit.principal == principal


def test_strip_prefixes_configurable() -> None:
    rules = IdentityRules(strip_prefixes=("svc-", "bedrock-"))
    assert person_of(A + "user/svc-build", rules).person == "build"
    assert person_of(A + "user/bedrock-x", IdentityRules(strip_prefixes=())).person == "bedrock-x"


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"peterdir": ["aider"], "aider": ["x"]}, "is itself a person"),
        ({"a": ["x"], "b": ["x"]}, "mapped twice"),
        ({"a": ["a"]}, "lists the person itself"),
        ({"a": "x"}, "must be a list"),
    ],
)
def test_parse_aliases_rejects_ambiguity(table: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_aliases(table)


def test_parse_aliases() -> None:
    assert parse_aliases({"peterdir": ["aider", "dirkcli"], "bob": []}) == {
        "aider": "peterdir",
        "dirkcli": "peterdir",
    }
