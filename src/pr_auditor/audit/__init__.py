"""The audit itself: scheduled, sweep and backfill runs, the life of a record, the branch audit, event parsing,
and the ports (typed protocols with in-memory fakes) every adapter implements. Imports ``core/`` only."""
