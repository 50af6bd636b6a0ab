"""pr-auditor: audits merged GitHub pull requests against a change policy (SOC 2 CC8.1 evidence)."""

__version__ = "0.1.0"
