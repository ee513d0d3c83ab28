"""The wire contract as data and pure functions: the lowest floor of the gate.

    dialects/*.toml --dialect.load_dialect--> Dialect    (how one backend family spells it;
                                                          layout: the file's keys and readers)
    server frame --rules.parse_frame / normalize--> message
    messages of one connection --routing.Demux--> runs --rules.check_run--> [Violation]
    what names no run of its own --ledger.check_foreign--> [Violation]   (isolation, ids)
    requests, tokens' claims, answers --messages--> frames as the dialect spells them

The suite, the reference backend and the harness (staging probes, settings) all read dialects
and judge messages through this package; it imports only the standard library.
"""
