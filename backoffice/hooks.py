"""Hooks: how a lower folder tells a higher one that something happened, without importing it.

A hook is an object of the folder that sends it (the mirror's "invoices mirrored", contracts'
"contract changed"); the folder that cares subscribes a function to it, by import, in its
AppConfig.ready(). A search for the function finds where it is subscribed, and the sender never
names its subscribers (no dotted strings).
"""

from collections.abc import Callable
from typing import Generic, TypeVar

T = TypeVar("T")


class Hook(Generic[T]):
    def __init__(self, what: str) -> None:
        self.what = what  # what happened, in words: "invoices written to the mirror"
        self._handlers: list[Callable[[T], object]] = []

    def subscribe(self, handler: Callable[[T], object]) -> Callable[[T], object]:
        """Call `handler` each time this happens; subscribing twice calls it once."""
        if handler not in self._handlers:
            self._handlers.append(handler)
        return handler

    def send(self, payload: T) -> None:
        for handler in list(self._handlers):
            handler(payload)

    def __repr__(self) -> str:
        names = ", ".join(f"{h.__module__}.{h.__qualname__}" for h in self._handlers)
        return f"<Hook {self.what}: {names or 'no subscribers'}>"
