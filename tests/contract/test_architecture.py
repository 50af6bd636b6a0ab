"""The package's architecture, stated as code: which layer may import which.

    entry points   handler.py  cli.py  settings.py        may import anything
    evidence/      archive, verify, report                 core, the ports, aws/ (to read a bucket)
    github/  aws/  adapters: one module per source/store   core, the ports (they implement them)
    audit/         runs, delivery, branch audit            core, the ports (and itself); never an adapter
    audit/ports    the protocols adapters implement        core
    core/          model, policy, rules, records           nothing outside core/

Arrows only point down. The test reads every module's imports with ``ast`` (including imports inside
functions, which are how the CLI defers optional libraries), so an arrow the wrong way fails here before a
reviewer has to spot it. A second test keeps classes small (one job each): none is over 120 lines.
"""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "src" / "pr_auditor"

#: layer -> the layers its modules may import (a layer may always import itself).
MAY_IMPORT: dict[str, set[str]] = {
    "core": set(),
    "audit.ports": {"core"},  # the protocols sit below the orchestration that uses them
    "audit": {"core", "audit.ports"},
    "github": {"core", "audit.ports"},
    "aws": {"core", "audit.ports"},
    "evidence": {"core", "audit.ports", "aws"},
    "entry": {"core", "audit", "audit.ports", "github", "aws", "evidence", "entry"},
}
#: Libraries that do I/O (or, for Powertools, belong to the Lambda's edge), by the layers that must not import them.
MAY_NOT_USE: dict[str, set[str]] = {
    "core": {"boto3", "botocore", "github", "requests", "aws_lambda_powertools"},
    "audit.ports": {"boto3", "botocore", "github", "requests", "aws_lambda_powertools"},
    "audit": {"boto3", "botocore", "github", "requests"},
}
ENTRY_POINTS = {"handler", "cli", "settings", "__init__"}
CLASS_LINE_LIMIT = 120


def layer_of(module: str) -> str:
    """``pr_auditor.audit.ports`` → ``audit.ports`` (the ports are a layer of their own: adapters may
    import them, not the rest of ``audit/``); ``pr_auditor.core.model`` → ``core``; top-level modules are
    entry points."""
    parts = module.split(".")[1:]
    if parts[:2] == ["audit", "ports"]:
        return "audit.ports"
    if len(parts) == 1 and parts[0] in ENTRY_POINTS:
        return "entry"
    return parts[0] if parts else "entry"


def module_name(path: Path, package: Path = PACKAGE) -> str:
    relative = path.relative_to(package.parent).with_suffix("")
    parts = list(relative.parts)
    if parts[-1] == "__init__" and len(parts) > 1:
        parts = parts[:-1]
    return ".".join(parts)


def all_imports(path: Path) -> set[str]:
    """Every module a file imports, at any depth of the file (``from pr_auditor import handler`` names the
    module ``pr_auditor.handler``)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "pr_auditor":
                found.update(f"pr_auditor.{alias.name}" for alias in node.names)
            else:
                found.add(node.module)
    return found


def imported_modules(path: Path) -> set[str]:
    return {name for name in all_imports(path) if name.startswith("pr_auditor")}


def wrong_way_arrows(package: Path) -> list[str]:
    arrows = []
    for path in sorted(package.rglob("*.py")):
        source = module_name(path, package)
        source_layer = layer_of(source)
        for target in sorted(imported_modules(path)):
            target_layer = layer_of(target)
            allowed = MAY_IMPORT[source_layer] | {source_layer}
            if target_layer not in allowed:
                arrows.append(f"{source} ({source_layer}) imports {target} ({target_layer})")
        for library in sorted(all_imports(path)):
            if library.split(".")[0] in MAY_NOT_USE.get(source_layer, set()):
                arrows.append(f"{source} ({source_layer}) imports {library}")
    return arrows


def test_every_module_belongs_to_a_known_layer() -> None:
    layers = {layer_of(module_name(path)) for path in PACKAGE.rglob("*.py")}
    assert layers <= set(MAY_IMPORT), layers - set(MAY_IMPORT)


def test_imports_only_point_down_the_layers() -> None:
    assert wrong_way_arrows(PACKAGE) == []


def test_a_wrong_way_import_is_caught(tmp_path: Path) -> None:
    """The check above can fail: a core module that imports an adapter is reported."""
    fake = tmp_path / "pr_auditor"
    (fake / "core").mkdir(parents=True)
    (fake / "core" / "rules.py").write_text("from pr_auditor.aws.sns import SnsNotifier\n")
    (fake / "audit").mkdir()
    (fake / "audit" / "runs.py").write_text("def f():\n    from pr_auditor.github.search import GitHubSource\n")
    (fake / "core" / "clock.py").write_text("import boto3\n")
    assert wrong_way_arrows(fake) == [
        "pr_auditor.audit.runs (audit) imports pr_auditor.github.search (github)",
        "pr_auditor.core.clock (core) imports boto3",
        "pr_auditor.core.rules (core) imports pr_auditor.aws.sns (aws)",
    ]


def classes_over_the_limit(package: Path) -> list[str]:
    found = []
    for path in sorted(package.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                lines = (node.end_lineno or node.lineno) - node.lineno + 1
                if lines > CLASS_LINE_LIMIT:
                    found.append(f"{module_name(path, package)}.{node.name}: {lines} lines")
    return found


def test_no_class_is_over_120_lines() -> None:
    assert classes_over_the_limit(PACKAGE) == []


def test_a_class_over_the_limit_is_counted(tmp_path: Path) -> None:
    fake = tmp_path / "pr_auditor" / "core"
    fake.mkdir(parents=True)
    body = "\n".join(f"    x{i} = {i}" for i in range(CLASS_LINE_LIMIT))  # 120 lines of body + the class line
    (fake / "big.py").write_text(f"class Big:\n{body}\n\n\nclass Small:\n    pass\n")
    assert classes_over_the_limit(tmp_path / "pr_auditor") == ["pr_auditor.core.big.Big: 121 lines"]
