"""The README is the stranger's first hour: steps in the order they are needed, one name for each thing, one
policy limit (the template's), the cost warning before the first deploy command, and links that resolve."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from template_model import load_template

ROOT = Path(__file__).resolve().parent.parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")

DEPLOY_STEPS = [
    "1. Prerequisites",
    "2. Region",
    "3. GitHub App (or token) and its secret",
    "4. Policy",
    "5. Deploy the stack",
    "6. Confirm the e-mail",
    "7. First run",
    "8. Read the queue",
    "9. What stays after delete",
]


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def headings(text: str) -> list[str]:
    outside_code = re.sub(r"```.*?```", "", text, flags=re.DOTALL)
    return [m.group(2) for m in re.finditer(r"^(#{1,6}) (.+)$", outside_code, flags=re.MULTILINE)]


def test_the_deploy_steps_come_in_the_order_a_stranger_needs_them() -> None:
    found = [h.removeprefix("### ") for h in headings(README) if re.match(r"\d\. ", h)]
    assert found == DEPLOY_STEPS


def test_the_quickstart_and_the_contents_come_before_everything_else_with_the_two_front_door_commands() -> None:
    names = headings(README)
    assert names[1:3] == ["Quickstart", "Contents"]
    quickstart = README[README.index("## Quickstart") : README.index("## Contents")]
    assert "make demo" in quickstart
    assert "make test" in quickstart
    assert "## Layout" in README


def test_every_link_inside_the_readme_points_at_a_heading_and_every_docs_link_at_a_file() -> None:
    anchors = {slug(h) for h in headings(README)}
    assert [a for a in re.findall(r"\]\(#([^)]+)\)", README) if a not in anchors] == []
    files = {link.split("#")[0] for link in re.findall(r"\]\((docs/[^)]+)\)", README)}
    assert files
    assert [f for f in sorted(files) if not (ROOT / f).is_file()] == []


def test_the_cost_and_retention_warning_comes_before_the_first_deploy_command_and_recommends_the_trial() -> None:
    first_deploy = README.index("make deploy ENV=dev          #")
    warning = README.index("Cost and retention")
    assert warning < first_deploy
    text = README[warning:first_deploy]
    assert "731 days" in text
    assert "keeps billing" in text
    assert "Deploy the trial first" in text


def test_the_cli_is_installed_from_the_clone_never_by_a_name_no_registry_carries() -> None:
    assert re.search(r"pipx? install ['\"]?pr-auditor", README) is None
    assert "pip install '.[report,aws]'" in README
    assert ".venv/bin/pr-auditor" in README
    for path in ROOT.joinpath("src").rglob("*.py"):
        assert "pip install 'pr-auditor" not in path.read_text(encoding="utf-8"), path


def test_one_secret_name_is_used_everywhere() -> None:
    texts = [README, (ROOT / "samconfig.toml").read_text(), (ROOT / "scripts" / "deploy.py").read_text()]
    secrets = {name for text in texts for name in re.findall(r"pr-auditor/github[\w-]*", text)}
    assert secrets <= {"pr-auditor/github", "pr-auditor/github-a1B2c3", "pr-auditor/github-Ab12Cd"}, secrets


@pytest.mark.parametrize("environment", ["dev", "default", "prod"])
def test_the_stack_names_in_the_readme_are_samconfigs(environment: str) -> None:
    import tomllib

    config = tomllib.loads((ROOT / "samconfig.toml").read_text(encoding="utf-8"))
    assert f"`{config[environment]['deploy']['parameters']['stack_name']}`" in README


def test_one_policy_limit_is_stated_and_it_is_the_templates_and_the_default_policy_shown_is_the_templates() -> None:
    document = load_template()["Parameters"]["PolicyDocument"]
    assert re.findall(r"\d[\d,]* ?(?:KiB|KB|kB|bytes)\b", README) == [], "no second policy size"
    assert f"A policy is at most {document['MaxLength']:,} characters" in README
    assert document["Default"] in README
