"""Image decoding in a small pool of short-lived worker processes.

Decoding an image needs memory in proportion to its pixels, and an allocator
rarely hands such a peak back to the operating system: decoded in the server's
own threads, a few large images leave the process hundreds of MiB larger for
good. Here every decode runs in a worker process that exits after its task
(``max_tasks_per_child=1``), so whatever it allocated returns to the OS at once,
and at most ``workers`` images are decoded at the same time on a node. Workers
are forked from a forkserver that has Pillow loaded, so starting one is cheap.

A worker that dies (killed for memory, say) only costs its image its thumbnail:
the pool is rebuilt and the upload is kept as a plain attachment. A worker
leaves by itself when the server is gone, even after a SIGKILL: waiting for
work, it would otherwise never notice (and the forkserver waits for it).
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import threading
import time
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from functools import partial
from pathlib import Path

from pigeon.files.images import ImageInfo, inspect_image

log = logging.getLogger("pigeon.files")

_PRELOAD = ["pigeon.files.images"]
_PARENT_CHECK_S = 1.0


def _leave_with(server_pid: int) -> None:
    """Worker initializer: exit once ``server_pid`` no longer exists."""

    def watch() -> None:
        while True:
            time.sleep(_PARENT_CHECK_S)
            try:
                os.kill(server_pid, 0)
            except ProcessLookupError:
                os._exit(0)
            except PermissionError:
                continue  # exists, owned by someone else (cannot happen for our parent)

    threading.Thread(target=watch, name="server-watch", daemon=True).start()


class ImageDecoder:
    def __init__(self, workers: int, max_pixels: int, thumbnail_px: int) -> None:
        self.workers = workers
        self.max_pixels = max_pixels
        self.thumbnail_px = thumbnail_px
        self._pool: ProcessPoolExecutor | None = None
        # Waiting uploads hold a slot here rather than a queue entry in the pool, so a
        # shutdown or a rebuilt pool never strands them.
        self._slots = asyncio.Semaphore(workers)

    def _executor(self) -> ProcessPoolExecutor:
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(_PRELOAD)
            self._pool = ProcessPoolExecutor(
                max_workers=self.workers,
                mp_context=context,
                max_tasks_per_child=1,
                initializer=_leave_with,
                initargs=(os.getpid(),),
            )
        return self._pool

    async def inspect(self, path: Path) -> ImageInfo | None:
        """Dimensions and a thumbnail (see ``inspect_image``), decoded in a worker."""
        work = partial(
            inspect_image, path, max_pixels=self.max_pixels, thumbnail_px=self.thumbnail_px
        )
        async with self._slots:
            pool = self._executor()
            try:
                return await asyncio.get_running_loop().run_in_executor(pool, work)
            except BrokenProcessPool:
                log.warning("an image worker died; the file is kept as an attachment")
                if self._pool is pool:
                    self._pool = None
                    pool.shutdown(wait=False, cancel_futures=True)
                return None

    def close(self) -> None:
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
