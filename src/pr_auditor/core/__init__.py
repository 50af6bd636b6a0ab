"""The pure core: domain data, the change policy, its rules, records and windows. No I/O; imports nothing
outside ``core/`` (but the standard library and pure parsing libraries: YAML, RE2)."""
