"""Text and reasoning messages (rules `text-messages`, `reasoning`): START, CONTENT, END by
messageId, and every one ended before RUN_FINISHED.

A messageId may not start while it is open (the official verifier's rule); it may start again
after its END, as the verifier allows and the client's reducer reads as the same message going
on (docs/dialects/ag-ui.md). A reasoning block (REASONING_START/END) and a reasoning message
(REASONING_MESSAGE_*) pair separately: pydantic-ai gives both one id.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from contract.agui.pairing import Move, Spans, pair_spans

if TYPE_CHECKING:
    from collections.abc import Sequence

    from contract.agui.events import Placed
    from contract.agui.verdicts import Findings


def check_messages(events: Sequence[Placed], findings: Findings) -> None:
    text = Spans("text-messages", "text message", "messageId", findings)
    block = Spans("reasoning", "reasoning block", "messageId", findings)
    thought = Spans("reasoning", "reasoning message", "messageId", findings)
    moves: dict[str, tuple[Spans, Move]] = {
        "TEXT_MESSAGE_START": (text, "start"),
        "TEXT_MESSAGE_CONTENT": (text, "touch"),
        "TEXT_MESSAGE_END": (text, "end"),
        "REASONING_START": (block, "start"),
        "REASONING_END": (block, "end"),
        "REASONING_MESSAGE_START": (thought, "start"),
        "REASONING_MESSAGE_CONTENT": (thought, "touch"),
        "REASONING_MESSAGE_END": (thought, "end"),
    }
    pair_spans(events, moves, (text, block, thought))
