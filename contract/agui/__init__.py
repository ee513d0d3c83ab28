"""The AG-UI protocol's rules as pure functions over decoded events (docs/dialects/ag-ui.md).

    RunRequest --requests.run_input--> RunAgentInput (the POST body the suite sends)
    POST body --requests.read_run_input--> RunInput | RunInputError      (the reference backend)
    one stream's events --chunks.expand_chunks--> the events the official client sees
        --stream.check_stream--> [Violation]  lifecycle, tool calls, messages, steps, shape
        --lifecycle.check_outcome--> [Violation]  the gate's own runs must finish normally
        --isolation.check_isolation(Tokens of every request)--> [Violation]  nothing foreign
    stream.check_gate_run: all three, for a run the gate started

One stream is the answer to one POST: one run. The event types are ag-ui-protocol 1.0.0's
(`events.EVENT_TYPES`); their shape is judged by the suite's engine with the official models
(`schema_errors` is passed in), so this package needs only the standard library.
"""
