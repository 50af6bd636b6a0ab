"""AWS adapters: the state table, the evidence bucket, SNS, metrics. Each implements a port of
``pr_auditor.audit.ports``; imports ``core/`` and the ports only."""
