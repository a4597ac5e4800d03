"""autobahn checks that every incoming text frame is valid UTF-8 with its C helper (through
cffi, which releases the GIL around each call, so the event-loop thread has to win the GIL
back from the database thread several times per frame). Our consumer decodes and parses the
text anyway. Here the check is switched off on daphne's WebSocket factory."""

from __future__ import annotations

from typing import Any

from sitecustomize import after_import


def _patch(module: Any) -> None:
    factory = module.WebSocketServerFactory
    original = factory.resetProtocolOptions

    def resetProtocolOptions(self: Any) -> None:
        original(self)
        self.utf8validateIncoming = False

    factory.resetProtocolOptions = resetProtocolOptions


after_import("autobahn.websocket.protocol", _patch)
