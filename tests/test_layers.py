"""No module imports a module of a later pipeline stage: the import graph draws the pipeline.

Stages, lowest first: the low contracts every stage shares, then sources -> pricing -> report -> site ->
publish -> deploy, and the entry points (CLI, config, the run that composes the stages) above them all.
The blob store (`state`) is a low module: sources, the Price List cache and budget notices all keep state
in it. A module of a stage may import its own stage and any earlier one, never a later one.
"""

from __future__ import annotations

import ast
from pathlib import Path

import generator

STAGES = ("low", "sources", "pricing", "report", "site", "publish", "deploy", "entry")
# module (dotted, without "generator.") or package prefix -> stage; the longest match wins
STAGE_OF = {
    "__init__": "low", "errors": "low", "layout": "low", "skips": "low", "words": "low", "counters": "low",
    "usage": "low", "modelids": "low", "identity": "low", "teams": "low", "budgets": "low", "headers": "low",
    "aws": "low", "state": "low", "stagelog": "low", "attribution": "low", "memory": "low", "cores": "low",
    "profiles": "pricing",
    "sources": "sources",
    "pricing": "pricing",
    "reconcile": "report", "site.cube": "report", "site.report": "report", "site.series": "report",
    "site.decisions": "report",
    "site": "site",
    "publish": "publish", "fetch": "publish", "lock": "publish", "notify": "publish", "serve": "publish",
    "deploy": "deploy", "doctor": "deploy", "logging_setup": "deploy", "timer": "deploy",
    "build": "entry", "run": "entry", "cli": "entry", "config": "entry", "config_file": "entry",
    "config_values": "entry", "lambda_handler": "entry", "__main__": "entry", "deploy.signin": "entry",
}  # fmt: skip
ROOT = Path(generator.__file__).parent


def _module(path: Path, root: Path = ROOT) -> str:
    parts = path.relative_to(root).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" and len(parts) > 1 else parts)


def stage(module: str) -> str:
    """The stage of a module named without `generator.`; KeyError for a module no stage claims."""
    name = module
    while name:
        if name in STAGE_OF:
            return STAGE_OF[name]
        name = name.rpartition(".")[0]
    raise KeyError(module)


def _imports(path: Path, root: Path = ROOT) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("generator"):
            base = node.module.removeprefix("generator").lstrip(".")
            for alias in node.names:
                # `from generator import aws` and `from generator.sources import files` name modules
                candidate = f"{base}.{alias.name}".lstrip(".")
                found.add(
                    candidate
                    if (ROOT / candidate.replace(".", "/")).exists()
                    or (ROOT / (candidate.replace(".", "/") + ".py")).exists()
                    else base or "__init__"
                )
        elif isinstance(node, ast.Import):
            found |= {a.name.removeprefix("generator.") for a in node.names if a.name.startswith("generator.")}
    return found


def violations(root: Path = ROOT) -> list[str]:
    found = []
    for path in sorted(root.rglob("*.py")):
        mine = _module(path, root)
        for other in sorted(_imports(path, root)):
            if STAGES.index(stage(other)) > STAGES.index(stage(mine)):
                found.append(f"{mine} ({stage(mine)}) imports {other} ({stage(other)})")
    return found


def test_every_module_has_a_stage() -> None:
    for path in ROOT.rglob("*.py"):
        assert stage(_module(path)) in STAGES


def test_no_module_imports_a_later_stage() -> None:
    assert violations() == []


def test_the_check_sees_a_climbing_import(tmp_path: Path) -> None:
    package = tmp_path / "generator"
    (package / "sources").mkdir(parents=True)
    (package / "site").mkdir()
    (package / "site" / "render.py").write_text("")
    (package / "usage.py").write_text("")
    (package / "sources" / "files.py").write_text("from generator.site import render\nfrom generator import usage\n")
    (package / "pricing.py").write_text("from generator.sources.files import x\n")
    assert violations(package) == ["sources.files (sources) imports site.render (site)"]
