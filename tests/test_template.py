"""The stack template built as data equals the template the text splicing rendered before, resource by resource.

tests/fixtures/stack-before/ holds the templates `render_template` made by `str.replace` into YAML text
(commit f391277), for two inputs: two log groups of this account, and one group plus a source account's
group by its ARN. The data-built template must decode to the same thing, section by section.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.decode import decode_str

from generator.deploy import EDGE_FUNCTION, build_template, render_template

FIXTURES = Path(__file__).parent / "fixtures" / "stack-before"
GROUPS = ["/aws/bedrock/modelinvocations", "/team-b/bedrock"]
CASES = {
    "two-groups": GROUPS,
    "cross-account": [GROUPS[0], "arn:aws:logs:us-east-1:210987654321:log-group:/aws/bedrock/modelinvocations"],
}


def _decoded(text: str) -> dict[str, Any]:
    found, problems = decode_str(text)
    assert not problems and found is not None
    return dict(json.loads(json.dumps(found, default=str)))


# What later issues changed on purpose since the template was spliced: (section, name) -> how to set the change
# aside in the new resource and the old one, so the rest must still be equal.
LATER: dict[tuple[str, str], Callable[[dict[str, Any], dict[str, Any]], None]] = {
    # #23: the function knows its schedule, so a run that cannot publish for two intervals fails
    # #23: the edge code refuses odd paths and exempts three exact sign-in paths (tests/js/edge.test.mjs); it is
    # still edge.js as the stack's Fn::Sub takes it
    ("Resources", "EdgeFunction"): lambda new, old: _same_code_aside(new, old),
    # #23: the session key moved out of a parameter into a secret and the edge's KeyValueStore
    ("Resources", "SignInFunction"): lambda new, old: _swap(
        new["Properties"]["Environment"]["Variables"],
        old["Properties"]["Environment"]["Variables"],
        "SESSION_SECRET",
        "SESSION_KEY",
    ),
    ("Resources", "SignInRole"): lambda new, old: _drop_statement(new, "ReadTheSessionKeys"),
    # #22: the publish function's memory is a parameter (deploy --memory), 2048 MB unless given
    ("Resources", "PublishFunction"): lambda new, old: _memory_aside(new, old),
    ("Parameters", "FunctionTimeout"): lambda new, old: _swap(new, old, "Description", "Description"),  # --timeout
    # #20: the publish function reads application inference profiles and Bedrock API key owners
    ("Resources", "PublishRole"): lambda new, old: [
        _drop_statement(new, sid)
        for sid in (
            "ListApplicationInferenceProfiles",
            "DescribeApplicationInferenceProfiles",
            "NameBedrockApiKeyOwners",
            "CountBedrockCalls",  # #21: log coverage reads Bedrock's own CloudWatch counts
            "ListTheCurExport",  # #21: deploy --cur reads the CUR export
            "ReadTheCurExport",
        )
    ],
}
# ... and what they added or removed, by (section, name): present only in the new template, or only in the old
ADDED = {
    ("Parameters", "MemorySize"),
    ("Resources", "SessionSecret"),
    ("Resources", "SessionKeyStore"),
    ("Parameters", "CurBucket"),
    ("Parameters", "CurPrefix"),
    ("Conditions", "HasCur"),
    ("Outputs", "SessionSecretArn"),
    ("Outputs", "SessionKeyStoreArn"),
    ("Resources", "DataReaderPolicy"),
    ("Outputs", "DataReaderPolicyArn"),
}  # fmt: skip  (#24: tools read data/)
REMOVED = {("Parameters", "SessionKey")}


def _memory_aside(new: dict[str, Any], old: dict[str, Any]) -> None:
    new["Properties"]["Environment"]["Variables"].pop(
        "SCHEDULE"
    )  # #23: a run that cannot publish for two intervals fails
    new["Properties"]["Environment"]["Variables"].pop("CUR")  # #21: deploy --cur
    assert new["Properties"].pop("MemorySize") == {"Ref": "MemorySize"} and old["Properties"].pop("MemorySize") == 1024
    # #22: /tmp holds each person's days by model beside the staged site
    assert new["Properties"]["EphemeralStorage"] == {"Size": 4096} and old["Properties"]["EphemeralStorage"] == {
        "Size": 1024
    }
    new["Properties"]["EphemeralStorage"] = old["Properties"]["EphemeralStorage"]


def _drop_statement(role: dict[str, Any], sid: str) -> None:
    statements = role["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    statements[:] = [s for s in statements if (s["Fn::If"][1] if "Fn::If" in s else s).get("Sid") != sid]


def _swap(new: dict[str, Any], old: dict[str, Any], added: str, removed: str) -> None:
    new.pop(added)
    old.pop(removed)


def _same_code_aside(new: dict[str, Any], old: dict[str, Any]) -> None:
    assert new["Properties"].pop("FunctionCode") == {"Fn::Sub": EDGE_FUNCTION.read_text()}
    old["Properties"].pop("FunctionCode")
    new["Properties"]["FunctionConfig"].pop("KeyValueStoreAssociations")


@pytest.mark.parametrize("case", sorted(CASES))
def test_each_resource_equals_the_spliced_template(case: str) -> None:
    before = _decoded((FIXTURES / f"{case}.yaml").read_text())
    after = _decoded(render_template(CASES[case]))
    for (section, name), undo in LATER.items():
        undo(after[section][name], before[section][name])
    for section, name in ADDED:
        after[section].pop(name)
    for section, name in REMOVED:
        before[section].pop(name)
    assert sorted(after) == sorted(before)
    for section in before:
        if isinstance(before[section], dict):
            assert sorted(after[section]) == sorted(before[section]), section
            for name in before[section]:
                assert after[section][name] == before[section][name], f"{section}.{name}"
        else:
            assert after[section] == before[section], section


def test_the_yaml_is_the_data() -> None:
    built = build_template(GROUPS)
    assert _decoded(render_template(GROUPS)) == json.loads(json.dumps(built))
    assert not re.search(r"__[A-Z_]+__", json.dumps(built))  # no placeholder left for a splice


def test_one_cidr_pattern_serves_the_stack_and_deploy() -> None:
    from generator.deploy import CIDR_LIST
    from generator.deploy.cloudformation import _CIDRS

    pattern = build_template(GROUPS)["Parameters"]["SubnetsOnly"]["AllowedPattern"]
    assert pattern == f"^$|^{CIDR_LIST}$" and _CIDRS.pattern == f"^{CIDR_LIST}$"
    for value, ok in (("10.0.0.0/8,2001:db8::/32", True), ('10.0.0.0/8";x', False), ("", True)):
        assert bool(re.fullmatch(pattern, value)) is ok


def test_the_deploy_plan_is_data() -> None:
    from generator.deploy.cloudformation import DeployRequest
    from generator.deploy.plan import plan_deploy

    request = DeployRequest(stack="usage", region="us-east-1", log_groups=("/aws/bedrock/modelinvocations",),
                            subnets_only="10.0.0.0/8", cost_explorer=True, source="cloudwatch")  # fmt: skip
    plan = plan_deploy(request, None, 0, request.access(None))
    assert [kind for kind, _ in plan.resources] == ["bucket", "distribution", "function", "role", "access"]
    assert plan.grants == ("logs:StartQuery on /aws/bedrock/modelinvocations", "the bucket", "this distribution",
                           "cloudwatch:ListMetrics and GetMetricData (Bedrock's own counts, for log coverage)",
                           "ce:GetCostAndUsage")  # fmt: skip
    assert plan.parameters["SubnetsOnly"] == "10.0.0.0/8" and plan.parameters["CostExplorer"] == "true"
    assert "CodeBucket" not in plan.parameters and not [p for p in plan.parameters if "Session" in p]
    lines = plan.lines()
    assert lines[2] == "create stack usage in us-east-1 with:"
    assert "  one IAM role: logs:StartQuery on /aws/bedrock/modelinvocations, the bucket, this distribution, " \
           "cloudwatch:ListMetrics and GetMetricData (Bedrock's own counts, for log coverage), " \
           "ce:GetCostAndUsage" in lines  # fmt: skip
    signed_request = request.__class__(**{**request.__dict__, "sign_in": "cognito",
                                          "budget_webhook": "https://hooks.example.com/T0/B0/x"})  # fmt: skip
    signed = plan_deploy(signed_request, "CREATE_COMPLETE", 0, signed_request.access(None))
    assert signed.parameters["BudgetWebhook"] == "(secret)" and signed.lines()[2].startswith("update (now CREATE")
    assert any("session key in Secrets Manager" in line for line in signed.lines())
