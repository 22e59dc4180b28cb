"""``with``-able instrument handles: leaving the block calls ``close()``."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


class Closeable(ABC):
    """An instrument handle (driver, task, counter) released by :meth:`close`."""

    @abstractmethod
    def close(self) -> None:
        """Release what this handle holds."""

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()
