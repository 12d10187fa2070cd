"""What services may ask of the outside world, given to them as plain objects (they never import
Flask or Socket.IO)."""

from __future__ import annotations

from typing import Protocol


class SocketGateway(Protocol):
    def end_connection(self, sid: str, *, reason: str) -> None:
        """Tell the client why, then disconnect it (whichever server process holds it)."""
