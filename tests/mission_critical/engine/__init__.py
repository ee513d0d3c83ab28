"""The suite's engine: everything the checks stand on, and nothing that judges a rule itself.

    environment   MC_* variables -> Settings (read once; a bad one is a usage error, exit 4)
    tokens        per-user tokens: minted with the secret, or the static list; the bad ones
    sockets       one WebSocket handshake, authenticated as the dialect spells it
    client        a user's connection: reader task, routing (contract.routing), bounded waits
    health        the health endpoint over HTTP(S), bounded
    event_schemas the JSON Schemas of the agent events (schemas/), loaded once
    agui_events   AG-UI events' shape: ag-ui-protocol's models, read strictly (imported lazily)
    latency       per-run figures and percentiles, budgets (rule `latency`)
    runner        every selected check's scenario at once, an Outcome per pytest item
    report_data   the data file (MC_REPORT_DATA) the harness draws its page from

The checks (`tests/mission_critical/test_*.py`) and `conftest.py` import from here; the engine
imports only `contract`, the standard library and the suite's own dependencies (the `suite`
group), never `tasks` or `refservice`, so the suite runs against any backend on its own.
"""
