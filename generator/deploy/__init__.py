"""Deployment artefacts: the CloudFormation stack template and the edge function, rendered as text.

Owns filling the shipped template with what must be literal in it (the CSP, the subnet function,
the log groups the Lambda may query). Pure: no AWS calls here.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

from generator.headers import CONTENT_SECURITY_POLICY

HERE = Path(__file__).parent
TEMPLATE = HERE / "stack.yaml"
SUBNETS_FUNCTION = HERE / "subnets_only.js"


def subnets_function(cidrs: str) -> str:
    """The CloudFront Function's code with its allow-list filled in."""
    return SUBNETS_FUNCTION.read_text().replace("__ALLOWED_CIDRS__", cidrs)


def render_template(log_groups: Sequence[str]) -> str:
    """Return the stack template with the CSP, the subnet function and the log-group ARNs filled in."""
    text = TEMPLATE.read_text()
    indent = " " * 8
    code = subnets_function("${SubnetsOnly}")  # CloudFormation's Fn::Sub fills in the parameter
    text = text.replace("__SUBNETS_ONLY_FUNCTION__", code.replace("\n", "\n" + indent).rstrip())
    text = text.replace("__CONTENT_SECURITY_POLICY__", json.dumps(CONTENT_SECURITY_POLICY))
    arns = []
    for group in log_groups:
        base = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:" + group
        arns += [f"- !Sub {json.dumps(base)}", f"- !Sub {json.dumps(base + ':*')}"]
    text = text.replace("__LOG_GROUP_ARNS__", ("\n" + " " * 18).join(arns))
    return text.replace("__LOG_GROUPS__", json.dumps(",".join(log_groups)))
