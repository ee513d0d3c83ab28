"""The reference agent backend: a real WebSocket server implementing docs/protocol.md."""

__version__ = "0.1.0"
