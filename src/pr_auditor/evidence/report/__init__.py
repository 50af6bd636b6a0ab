"""``pr-auditor report``: the auditor's evidence pack for a period (population, exceptions, sample, summary, HTML).

``core`` and ``coverage`` are pure functions over record dicts; ``links`` builds console links; ``html``
renders the page (Jinja2 + pygal, the optional ``report`` extra); ``sources`` reads records from files or
the evidence archive; ``build`` streams records through it all into a folder; ``command`` is the CLI's hook.
"""
