"""The wire contract as data and pure functions: the lowest floor of the gate.

    dialects/*.toml --dialect.load_dialect--> Dialect    (how one backend family spells it)
    server frame --rules.parse_frame / normalize--> message
    messages of one connection --routing.Demux--> runs --rules.check_run--> [Violation]

The suite, the reference backend and the harness (staging probes, settings) all read dialects
and judge messages through this package; it imports only the standard library.
"""
