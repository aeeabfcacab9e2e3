"""Deployment artefacts: the CloudFormation stack template and the edge function, rendered as text.

Owns filling the shipped template with what must be literal in it (the CSP, the edge function,
the log groups the Lambda may query). Pure: no AWS calls here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from generator.headers import CONTENT_SECURITY_POLICY

HERE = Path(__file__).parent
TEMPLATE = HERE / "stack.yaml"
EDGE_FUNCTION = HERE / "edge.js"


def edge_function(cidrs: str, sign_in: str, session_key: str, audience: str) -> str:
    """The CloudFront Function's code with its settings filled in (the template passes parameter references)."""
    code = EDGE_FUNCTION.read_text()
    for name, value in (("ALLOWED_CIDRS", cidrs), ("SIGN_IN", sign_in), ("SESSION_KEY", session_key),
                        ("AUDIENCE", audience)):  # fmt: skip
        code = code.replace(f"__{name}__", value)
    return code


def render_template(log_groups: Sequence[str]) -> str:
    """Return the stack template with the CSP, the subnet function and the log-group ARNs filled in."""
    text = TEMPLATE.read_text()
    indent = " " * 8
    # CloudFormation's Fn::Sub fills in the parameters, whose AllowedPatterns admit no quote or backslash
    code = edge_function("${SubnetsOnly}", "${SignIn}", "${SessionKey}", "bedrock-usage-site:${AWS::StackName}")
    text = text.replace("__EDGE_FUNCTION__", code.replace("\n", "\n" + indent).rstrip())
    text = text.replace("__CONTENT_SECURITY_POLICY__", json.dumps(CONTENT_SECURITY_POLICY))
    arns = []
    for group in log_groups:
        if group.startswith("arn:"):  # a source account's group (cross-account observability), by its ARN
            arns += [f"- {json.dumps(group)}", f"- {json.dumps(group + ':*')}"]
            continue
        base = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:" + group
        arns += [f"- !Sub {json.dumps(base)}", f"- !Sub {json.dumps(base + ':*')}"]
    text = text.replace("__LOG_GROUP_ARNS__", ("\n" + " " * 20).join(arns))
    return text.replace("__LOG_GROUPS__", json.dumps(",".join(log_groups)))
