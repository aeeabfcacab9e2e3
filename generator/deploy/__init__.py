"""The CloudFormation stack template, built as data: the shipped skeleton (`stack.yaml`) loaded into a dict,
the parts that depend on the request set as values, and the whole dumped once as YAML.

Owns the template's inputs: the edge function's code (which takes the stack's parameters through the
template's own `Fn::Sub`), the CSP, the one CIDR-list pattern and the log groups the Lambda may query.
Pure: no AWS calls and no text splicing here.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import yaml

from generator.headers import CONTENT_SECURITY_POLICY

HERE = Path(__file__).parent
TEMPLATE = HERE / "stack.yaml"
EDGE_FUNCTION = HERE / "edge.js"
# Comma-separated IPv4/IPv6 CIDRs: no quote, space or other character can reach the edge function's code.
# The stack's SubnetsOnly parameter and `deploy --subnets-only` both check this one pattern.
CIDR_LIST = r"[0-9A-Fa-f:.]{2,39}/[0-9]{1,3}(,[0-9A-Fa-f:.]{2,39}/[0-9]{1,3}){0,49}"
_SHORT_FORMS = ("And", "Equals", "If", "Join", "Not", "Or", "Select", "Split")  # !X value -> {"Fn::X": value}


class _Loader(yaml.SafeLoader):
    """YAML with CloudFormation's short forms (`!Ref`, `!Sub`, `!GetAtt` ...), read as their long forms."""


def _long_form(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        if isinstance(node, yaml.ScalarNode):
            value: Any = loader.construct_scalar(node)
        elif isinstance(node, yaml.SequenceNode):
            value = loader.construct_sequence(node, deep=True)
        else:
            value = loader.construct_mapping(node, deep=True)  # type: ignore[arg-type]
        if name == "Fn::GetAtt" and isinstance(value, str):
            value = value.split(".", 1)
        return {name: value}

    return construct


for _tag in _SHORT_FORMS:
    _Loader.add_constructor(f"!{_tag}", _long_form(f"Fn::{_tag}"))
_Loader.add_constructor("!Ref", _long_form("Ref"))
_Loader.add_constructor("!Sub", _long_form("Fn::Sub"))
_Loader.add_constructor("!GetAtt", _long_form("Fn::GetAtt"))
_Loader.add_constructor("!Condition", _long_form("Condition"))


@functools.cache
def _skeleton() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.load(TEMPLATE.read_text(), Loader=_Loader)
    return loaded


def log_group_arns(log_groups: Sequence[str]) -> list[Any]:
    """The ARNs `logs:StartQuery` is granted on: each group and its streams; a source account's group by its ARN."""
    arns: list[Any] = []
    for group in log_groups:
        if group.startswith("arn:"):  # a source account's group (cross-account observability), by its ARN
            arns += [group, group + ":*"]
            continue
        base = "arn:${AWS::Partition}:logs:${AWS::Region}:${AWS::AccountId}:log-group:" + group
        arns += [{"Fn::Sub": base}, {"Fn::Sub": base + ":*"}]
    return arns


def build_template(log_groups: Sequence[str]) -> dict[str, Any]:
    """The stack template as data: the skeleton with the edge code, the CSP, the CIDR pattern and the log groups."""
    template = copy.deepcopy(_skeleton())
    template["Parameters"]["SubnetsOnly"]["AllowedPattern"] = f"^$|^{CIDR_LIST}$"
    resources = template["Resources"]
    # CloudFormation's Fn::Sub fills in the parameters the code names (${SubnetsOnly} ...), whose AllowedPatterns
    # admit no quote or backslash
    resources["EdgeFunction"]["Properties"]["FunctionCode"] = {"Fn::Sub": EDGE_FUNCTION.read_text()}
    headers = resources["HeadersPolicy"]["Properties"]["ResponseHeadersPolicyConfig"]["SecurityHeadersConfig"]
    headers["ContentSecurityPolicy"]["ContentSecurityPolicy"] = CONTENT_SECURITY_POLICY
    policy = resources["PublishRole"]["Properties"]["Policies"][0]["PolicyDocument"]
    guarded = [s["Fn::If"][1] for s in policy["Statement"] if "Fn::If" in s]
    (query,) = [s for s in guarded if s.get("Sid") == "QueryTheInvocationLogs"]
    query["Resource"] = log_group_arns(log_groups)
    variables = resources["PublishFunction"]["Properties"]["Environment"]["Variables"]
    variables["LOG_GROUP"] = ",".join(log_groups)
    return template


class _Dumper(yaml.SafeDumper):
    """Block style, CloudFormation's short forms again (a template body is capped at 51,200 bytes), and
    multi-line strings (the edge code) as literal blocks people can read."""


def _text(dumper: yaml.SafeDumper, value: str) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", value, style="|" if "\n" in value else None)


_SHORT = {"Ref": "!Ref", "Condition": "!Condition", "Fn::GetAtt": "!GetAtt", "Fn::Sub": "!Sub",
          **{f"Fn::{name}": f"!{name}" for name in _SHORT_FORMS}}  # fmt: skip


def _mapping(dumper: yaml.SafeDumper, value: dict[str, Any]) -> yaml.Node:
    (key, inner), *more = value.items() if value else ((None, None),)
    if more or key not in _SHORT:
        return dumper.represent_dict(value)
    tag = _SHORT[key]
    if key == "Fn::GetAtt" and isinstance(inner, list):
        inner = ".".join(inner)
    if isinstance(inner, list):
        return dumper.represent_sequence(tag, inner, flow_style=all(isinstance(i, str) for i in inner))
    if isinstance(inner, dict):
        return dumper.represent_mapping(tag, inner)
    text = str(inner)
    return dumper.represent_scalar(tag, text, style="|" if "\n" in text else None)


_Dumper.add_representer(str, _text)
_Dumper.add_representer(dict, _mapping)


def render_template(log_groups: Sequence[str]) -> str:
    """The stack template as YAML text for CloudFormation."""
    dumped: str = yaml.dump(build_template(log_groups), Dumper=_Dumper, sort_keys=False, width=120)
    return dumped
