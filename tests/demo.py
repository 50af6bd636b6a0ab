"""`make demo`: the main job end to end on local stand-ins, with a short human summary.

GitHub is the stand-in (real HTTP, GraphQL executed against GitHub's published schema); AWS is moto.
The Lambda handler runs in-process with events/scheduled.json. Two hops are simulated because moto
cannot do them, and the output says so: metric filters → metrics, and CloudWatch alarm → SNS publish.
"""

from __future__ import annotations

import io
import json
import os
import sys
import time
from collections import Counter
from contextlib import redirect_stdout
from datetime import timedelta
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / ".demo"
TOKEN = "ghp_demo0000000000000000000000000000000"  # the stand-in's only valid token; checked absent from logs
POLICY = """\
# Demo policy (stored in the SSM parameter the function reads at run time)
required_approvals: 1
emergency_labels: [emergency, hotfix]
exempt_authors: [dependabot, renovate]
ticket_pattern: '(?i)\\b(OPS|PLAT|SEC)-\\d+'   # a Jira key in the title, body or branch
repositories:
  acme/infra:
    required_approvals: 2
"""
N_PRS = 400


def main() -> int:
    started = time.monotonic()
    from moto import mock_aws

    from pr_auditor.core.model import Window
    from pr_auditor.core.parse import parse_time

    from harness import (
        LambdaContext,
        alarms_in_alarm,
        aws_environment,
        captured_function_logs,
        deploy,
        function_clock,
        function_environment,
        metric_values,
        publish_alarm,
        read_queue,
        ship,
    )
    from standin.generate import add_pr, generate_org, review
    from standin.git import init_all, push
    from standin.server import StandIn

    aws_environment()
    event = json.loads((ROOT / "events" / "scheduled.json").read_text())
    now = parse_time(event["time"], name="time")
    window = Window(now - timedelta(days=1), now)  # the first run audits one schedule period back
    state = generate_org(seed=2026, n_prs=N_PRS, since=window.since, until=window.until, tokens=(TOKEN,))
    scenario_of = {(p.repo.full_name, p.number): p.scenario for p in state.prs}
    wall, state.clock = state.clock, lambda: window.since  # pushed then, by GitHub's clock too
    init_all(state, at=window.since)  # each repository's default branch has a history: the first run's baseline
    state.clock = wall

    with StandIn(state) as github, mock_aws():
        route = deploy(token=TOKEN, policy_text=POLICY)
        os.environ.update(function_environment(route, github.base_url, SCHEDULE_MINUTES="1440"))
        from pr_auditor import handler

        emf = io.StringIO()  # the embedded-metric lines Powertools Metrics prints (stdout in Lambda)
        with captured_function_logs(handler.logger) as lines, redirect_stdout(emf), function_clock(event):
            handler.lambda_handler(event, LambdaContext())
        events = ship(route, lines)
        values = metric_values(route, events)
        firing = alarms_in_alarm(route, values)
        for alarm in firing:
            publish_alarm(route, alarm, sum(values.get(m.metric_name, 0) for m in alarm.metrics))
        messages = read_queue(route)
        served = state.count()

        # The next scheduled run, an hour later: it re-scans the 2-hour overlap behind the watermark (the
        # search index lags) and records only what is new; what it sees again raises no second finding.
        for minutes, reviews in ((10, [review("bob")]), (25, []), (40, [review("carol")])):
            add_pr(
                state,
                "web",
                title=f"OPS-{minutes} late change",
                merged_at=now + timedelta(minutes=minutes),
                reviews=reviews,
            )
        # … and an admin pushes straight to acme/api's default branch, the commit dated a month back.
        [api] = [repo for repo in state.orgs["acme"] if repo.name == "api"]
        wall, state.clock = state.clock, lambda: now + timedelta(minutes=45)  # GitHub's clock at the push
        [pushed] = push(state, api, author="olivia-admin", at=now - timedelta(days=30))
        state.clock = wall
        later = event | {"time": (now + timedelta(hours=1)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        with (
            captured_function_logs(handler.logger) as second_lines,
            redirect_stdout(io.StringIO()),
            function_clock(later),
        ):
            handler.lambda_handler(later, LambdaContext(aws_request_id="demo-request-0002"))
        second = [json.loads(line) for line in ship(route, second_lines)]
        second_messages = read_queue(route)
        # A quiet third run closes the hour in which the second one detected the push, so the evidence
        # chain covers the whole period the auditor asks about below.
        third = event | {"time": (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")}
        with (
            captured_function_logs(handler.logger) as third_lines,
            redirect_stdout(io.StringIO()),
            function_clock(third),
        ):
            handler.lambda_handler(third, LambdaContext(aws_request_id="demo-request-0003"))
        ship(route, third_lines)
        read_queue(route)
        evidence = evidence_step(route, now)

    records = [json.loads(e) for e in events]
    [summary] = [r for r in records if r.get("kind") == "run_summary"]
    OUT.mkdir(exist_ok=True)
    (OUT / "records.jsonl").write_text("".join(e + "\n" for e in events + second_lines))
    leaked = sum(TOKEN in e for e in events + second_lines)
    report(summary, records, values, firing, messages, scenario_of, served, leaked, window)
    print_embedded_metrics(emf.getvalue())
    [next_summary] = [r for r in second if r.get("kind") == "run_summary"]
    counts = next_summary["counts"]
    print(
        f"\nNext run ({next_summary['window']['since']} .. {next_summary['window']['until']}: from the watermark "
        f"minus the 2 h overlap): {counts['audited']} new PRs recorded ({counts['non_compliant']} non-compliant); "
        f"{counts['already_recorded']} seen again in the overlap and not recorded twice."
    )
    pushes = [r for r in second if r.get("kind") == "direct_push"]
    print(
        f"Branch audit: {len(pushes)} direct push(es) found in GitHub's repository activity for acme/api's default"
        " branch since the first run's baseline (who pushed, and when; the commit's own date is the client's):"
    )
    for record in pushes:
        print(f"  {record['repository']}@{record['sha'][:7]} on {record['branch']}, pushed {record['pushed_at']}"
              f" by {record['pusher']} (committed {record['committed_date']}, detected by {record['detected_by']}):"
              f" {record['verdict']} ({', '.join(v['code'] for v in record['violations'])})")  # fmt: skip
    push_messages = [m for m in second_messages if m["attributes"].get("kind") == "direct_push"]
    print(f"  ops queue: {len(push_messages)} message(s) for it, kind=direct_push")
    print(evidence)
    ok = bool(pushes) and pushes[0]["sha"] == pushed and len(push_messages) == 1 and "FAILED" not in evidence
    print(f"\nDone in {time.monotonic() - started:.1f} s. All log records: {OUT / 'records.jsonl'}")
    return 0 if summary["status"] == "completed" and not leaked and messages and ok else 1


def print_embedded_metrics(stdout: str) -> None:
    """The dashboard's figures, from the EMF lines the function printed (parsed here as CloudWatch would)."""
    totals: Counter[str] = Counter()
    for document in (json.loads(line) for line in stdout.splitlines() if line.startswith('{"_aws"')):
        for metric in document["_aws"]["CloudWatchMetrics"][0]["Metrics"]:
            value = document[metric["Name"]]
            totals[metric["Name"]] += sum(value) if isinstance(value, list) else value
    print("\nEmbedded metrics for the dashboard (EMF lines, namespace PrAuditor, parsed as CloudWatch would):")
    print("  " + ", ".join(f"{name} {value:g}" for name, value in totals.items()))


def evidence_step(route: Any, now: Any) -> str:
    """The auditor's side: the archive the runs wrote, `pr-auditor verify` on it and on a doctored copy, and
    `pr-auditor report` for the period. Returns what to print."""
    import contextlib
    import shutil

    from pr_auditor.cli import main as cli
    from pr_auditor.evidence.archive import decode_records, encode_records

    from evidence import download

    lines: list[str] = []
    s3 = route.client("s3")
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket=route.evidence_bucket).get("Contents", [])]
    lines.append(f"\nEvidence archive (s3://{route.evidence_bucket}, Object Lock COMPLIANCE): {len(keys)} objects")
    lines += [f"  {key}" for key in sorted(keys)]

    def run(*args: str) -> tuple[int, str]:
        out, err = io.StringIO(), io.StringIO()
        with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
            code = cli(list(args), out=out)
        return code, (out.getvalue() + err.getvalue()).strip()

    code, text = run("verify", "--bucket", route.evidence_bucket)
    lines.append(f"\n$ pr-auditor verify --bucket {route.evidence_bucket}    (exit {code})")
    lines += ["  " + line for line in text.splitlines()[:4]]
    ok = code == 0
    copy = OUT / "archive-copy"
    shutil.rmtree(copy, ignore_errors=True)
    download(s3, route.evidence_bucket, copy)
    [first] = sorted(p for p in copy.rglob("*.jsonl.gz"))[:1]
    records = decode_records(first.read_bytes())
    doctored = next(r for r in records if r.get("verdict") == "non_compliant")
    doctored.update(verdict="compliant", violations=[])  # an insider makes a finding disappear
    first.write_bytes(encode_records(records))
    # The auditor's own copy of the signing key's public key (aws kms get-public-key), kept outside AWS.
    from cryptography.hazmat.primitives import serialization

    der = route.client("kms").get_public_key(KeyId=route.signing_key_id)["PublicKey"]
    public_key = OUT / "signing-key.pem"
    public_key.write_bytes(
        serialization.load_der_public_key(der).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    code, text = run("verify", "--dir", str(copy), "--public-key", str(public_key))
    lines.append(
        f"\n$ pr-auditor verify --dir {copy.relative_to(ROOT)} --public-key {public_key.relative_to(ROOT)}"
        f"    (a copy with one finding doctored; exit {code})"
    )
    lines += ["  " + line for line in text.splitlines()[:3]]
    ok = ok and code == 1
    since = (now - timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    until = (now + timedelta(hours=2)).strftime("%Y-%m-%dT%H:%M:%SZ")  # the third run's window ends here
    pack = OUT / "evidence-pack"
    shutil.rmtree(pack, ignore_errors=True)
    code, text = run("report", "--since", since, "--until", until, "--bucket", route.evidence_bucket,
                     "--out", str(pack), "--sample", "25", "--seed", "2026")  # fmt: skip
    lines.append(f"\n$ pr-auditor report --since {since} --until {until} --bucket ... --out {pack.relative_to(ROOT)}"
                 f" --sample 25 --seed 2026    (exit {code})")  # fmt: skip
    lines += ["  " + line for line in text.splitlines()[-4:]]
    summary = json.loads((pack / "summary.json").read_text()) if (pack / "summary.json").exists() else {}
    lines.append("  summary.json begins: " + json.dumps(summary, indent=1)[:600].replace("\n", "\n  "))
    lines.append(f"  open {pack / 'report.html'}")
    ok = ok and code == 0 and (pack / "report.html").exists()
    lines.append("\nEvidence: " + ("the chain verifies, the doctored copy is caught, the pack is written" if ok
                                   else "FAILED"))  # fmt: skip
    return "\n".join(lines)


def report(
    summary: dict[str, Any],
    records: list[dict[str, Any]],
    values: dict[str, int],
    firing: list[Any],
    messages: list[dict[str, Any]],
    scenario_of: dict[tuple[str, int], str],
    served: int,
    leaked: int,
    window: Any,
) -> None:
    prs = [r for r in records if r.get("kind") == "pull_request"]
    counts = summary["counts"]
    print("pr-auditor demo — GitHub stand-in (GraphQL on GitHub's published schema) + moto\n")
    print(
        f"Window      {window.as_dict()['since']} .. {window.as_dict()['until']} (first scheduled run: one schedule period)"
    )
    print(f"Policy      {prs[0]['policy_version'] if prs else '-'} (from the SSM parameter)")
    print(
        f"Audited     {counts['audited']} PRs: {counts['compliant']} compliant, "
        f"{counts['non_compliant']} non-compliant, {counts['exempt']} exempt; "
        f"{counts['out_of_scope']} into out-of-scope branches (counted, not findings)"
    )
    print(
        f"GitHub      {summary['github_requests']} requests (stand-in served {served}), {summary['sub_windows']} window(s)"
    )
    print(f"Token       {'LEAKED into ' + str(leaked) + ' log lines!' if leaked else 'absent from every log line'}")

    print("\nOne non-compliant or exempt PR per situation (why, as the record explains it):")
    shown: set[str] = set()
    for record in prs:
        scenario = scenario_of.get((record["repository"], record["number"]), "?")
        if record["verdict"] == "compliant" or scenario in shown:
            continue
        shown.add(scenario)
        ref = f"{record['repository']}#{record['number']}"
        reasons = record.get("exempt_reason") or "; ".join(f"{v['code']}: {v['detail']}" for v in record["violations"])
        if record["review_decision"] == "REVIEW_REQUIRED":
            reasons += " [GitHub reviewDecision REVIEW_REQUIRED at merge: merged past required review]"
        if record["archived_repository"]:
            reasons += " [archived repository, still audited]"
        print(f"  {ref:<24} {record['verdict']:<14} [{scenario}] {reasons}")
    by_code = Counter(v["code"] for r in prs for v in r["violations"])
    print("\nFindings by violation code: " + ", ".join(f"{code} {n}" for code, n in sorted(by_code.items())))
    discounted = Counter(d.split(": ", 1)[1].split(" —")[0] for r in prs for d in r["discounted_approvals"])
    print("Approvals not counted:      " + ", ".join(f"{why} {n}" for why, n in sorted(discounted.items())))

    print("\nCloudWatch Logs → metric filters (SIMULATED: moto has no metric filters; the template's own")
    print("patterns are applied to the logged records):")
    for metric, value in values.items():
        print(f"  {metric:<22} {value}")
    print("Alarms (SIMULATED evaluation; the notification is published to the alarm's SNS topic as CloudWatch would):")
    for alarm in firing:
        print(f"  {alarm.alarm_name}")
    findings = [m for m in messages if "record_id" in m["alarm"]]
    alarms = [m for m in messages if "AlarmName" in m["alarm"]]
    print(f"\nOps SQS queue (real moto SNS → SQS delivery): {len(messages)} message(s)")
    print(f"  {len(findings)} per-finding message(s), one per non-compliant or emergency change, published by the")
    print("  function itself (not simulated). One of each kind in full, SNS attributes first:")
    one_per_kind = {m["attributes"].get("kind"): m for m in reversed(findings)}
    for message in sorted(one_per_kind.values(), key=lambda m: m["attributes"].get("kind") != "pull_request"):
        print(f"  --- {message['subject']}")
        print(f"  attributes: {json.dumps(message['attributes'], sort_keys=True)}")
        print("  " + json.dumps(message["alarm"], indent=2).replace("\n", "\n  "))
    print(f"  {len(alarms)} alarm notification(s), the aggregate safety net, next to them:")
    for message in alarms:
        alarm = message["alarm"]
        print(f"  --- {message['subject']}")
        print(f"    {alarm['NewStateReason']}  {alarm['AlarmDescription']}")


if __name__ == "__main__":
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    sys.exit(main())
