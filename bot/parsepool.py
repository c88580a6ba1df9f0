"""Parse fetched feeds in worker processes: off the event loop's GIL, and a worker's death is a feed failure value.

Knows parse_feed and its values only; nothing of fetching, storage, matching or the order of the pipeline.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool

from bot import parse
from bot.models import FetchResult, ParsedFeed

log = logging.getLogger(__name__)

ATTEMPTS = 2  # a feed whose parse kills its worker twice (each time in a fresh pool) is failed, not retried again


class ParsePool:
    """`workers` processes running parse_feed. A dead worker (killed for memory, a crash) breaks the whole
    executor: it is replaced, and each parse it took down is tried once more in the fresh one.
    """

    def __init__(self, workers: int, target: Callable[[FetchResult], ParsedFeed] = parse.parse_feed) -> None:
        self.workers = max(1, workers)
        self.target = target  # module-level, so that it pickles by name; parse_feed except in tests
        methods = multiprocessing.get_all_start_methods()
        # never fork the daemon itself: it runs threads (sqlite, to_thread) whose locks a fork would copy held
        self.context = multiprocessing.get_context("forkserver" if "forkserver" in methods else "spawn")
        self.replaced = 0  # executors replaced after a worker died
        self._executor = self._new_executor()

    def _new_executor(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(self.workers, mp_context=self.context)

    async def parse(self, result: FetchResult) -> ParsedFeed:
        """parse_feed(result) in a worker; never raises for the feed's own sake (CancelledError passes)."""
        reason = ""
        for _ in range(ATTEMPTS):
            executor = self._executor
            try:
                return await asyncio.wrap_future(executor.submit(self.target, result))
            except BrokenProcessPool as exc:
                reason = " ".join(str(exc).split())[:200] or type(exc).__name__
                self._replace(executor)
            except Exception as exc:  # e.g. a result that does not pickle: this feed's failure
                return ParsedFeed((), problem=f"parse worker error: {type(exc).__name__}: {str(exc)[:200]}")
        return ParsedFeed((), problem=f"parse worker died: {reason}")

    def _replace(self, broken: ProcessPoolExecutor) -> None:
        if self._executor is broken:  # the first of the parses it took down replaces it; the others reuse that
            self._executor = self._new_executor()
            self.replaced += 1
            log.warning("parse worker died; parse pool replaced (%d so far)", self.replaced)
            broken.shutdown(wait=False, cancel_futures=True)

    def worker_pids(self) -> list[int]:
        """The live executor's worker process ids (for tests and operators; started lazily, so maybe none yet)."""
        return list((getattr(self._executor, "_processes", None) or {}).keys())

    def close(self) -> None:
        """Wait for the parses in flight, then stop the workers. Blocking: call it from a thread."""
        self._executor.shutdown(wait=True, cancel_futures=True)
