"""The reference backend speaking the `ag-ui` dialect: AG-UI over HTTP POST + Server-Sent Events.

    POST <run_path> RunAgentInput --auth.BearerAuth--> app.AguiApp --plan.plan_run--> frames
        --faults (one rule broken on demand)--> text/event-stream of `data: <json>` events
    serve.serve_agui: uvicorn on a socket of its own, the READY line, a graceful stop

Pure ASGI (no framework, so nothing buffers the stream), served by uvicorn, which only this
dialect imports. The events are hand-spelled dicts, so a fault can break any of them.
"""
