"""`probe.measure(...)`: a decorator (sync and `async def`) and a context manager (`with`, `async with`).

Everything is decided when a function is decorated: whether it is a coroutine function, whether
`items` is a callable, whether there is a `sync`, whether memory is tracked, whether the caller
must check slowness itself (only when `attributes` needs the call's arguments). For each
combination a wrapper is generated with only the lines it needs (the way `dataclasses` writes
`__init__`), so the plain case is: read the clock, call, read the clock, append a tuple of four ints
to a deque. Encoding happens on the flusher thread.
"""

from __future__ import annotations

import functools
import inspect
import linecache
import sys
import threading
from itertools import count
from typing import Any, Callable, Dict, Optional, Tuple, TypeVar, Union

from . import _core, _wire
from ._core import Core, clamp_items

F = TypeVar("F", bound=Callable[..., Any])
ItemsArg = Union[int, Callable[..., int], None]
SyncArg = Union[str, Callable[[], Any], None]

_factories: Dict[Tuple[bool, bool, int, bool, bool], Callable[..., Any]] = {}
_filenames = count()


def _wrapper_source(is_async: bool, items_callable: bool, sync_kind: int, track_memory: bool, check_slow: bool) -> str:
    """The source of a factory whose closure is the wrapper; sync_kind 0 none, 1 plain, 2 awaitable."""
    aw = "await " if is_async else ""
    sync = "" if sync_kind == 0 else ("await sync()" if sync_kind == 2 else "sync()")
    n = "n" if items_callable else "itemw"
    lines = [
        "def factory(fn, clock, events, append, limit, next_, drops, op, opw, itemw, items, bad_items, sync,",
        "            failed, slow, thresholds, attributes, read_rss, memory_delta, len, use):",
        "    used = False",
        f"    {'async def' if is_async else 'def'} wrapper(*args, **kwargs):",
        "        nonlocal used",
    ]
    body = []
    if items_callable:
        body += ["try:",
                 "    n = int(items(*args, **kwargs))",
                 "    n = 1 if n < 1 else (n if n < 4294967296 else 4294967295)",
                 "except Exception:",
                 "    n = bad_items()"]
    if track_memory:
        body.append("before = read_rss()")
    if sync:
        body.append(sync)
    # The first call declares the operation to the flusher (it DEFINEs only operations used in
    # this process): before any event of it is queued.
    body += ["if not used:",
             "    used = use(op)",
             "start = clock()",
             "try:",
             f"    result = {aw}fn(*args, **kwargs)"]
    if sync:
        body.append(f"    {sync}")
    body += ["except Exception as error:",
             f"    failed(opw, start, clock() - start, {n}, error, attributes, args, kwargs)"]
    if track_memory:
        body.append("    memory_delta(op, before)")
    body += ["    raise",
             "duration = clock() - start",
             "if len(events) < limit:",
             f"    append((opw, start, duration, {n}))",
             "else:",
             "    next_(drops)"]
    if check_slow:
        body += ["if duration > thresholds[op]:",
                 f"    slow(op, start, duration, {n}, attributes, args, kwargs)"]
    if track_memory:
        body.append("memory_delta(op, before)")
    body.append("return result")
    lines += ["        " + line for line in body]
    lines.append("    return wrapper")
    return "\n".join(lines) + "\n"


def _factory(key: Tuple[bool, bool, int, bool, bool]) -> Callable[..., Any]:
    factory = _factories.get(key)
    if factory is None:
        source = _wrapper_source(*key)
        # Registered with linecache so that a traceback through the wrapper shows its line.
        filename = f"<probe_client wrapper {next(_filenames)}>"
        linecache.cache[filename] = (len(source), None, source.splitlines(True), filename)
        namespace: Dict[str, Any] = {}
        exec(compile(source, filename, "exec"), namespace)
        factory = _factories[key] = namespace["factory"]
    return factory


class _CudaSync:
    """`sync="cuda"`: `torch.cuda.synchronize`, looked up at the first call, so that nothing
    touches CUDA before a fork (gunicorn `--preload`); a no-op, said once, without CUDA."""

    __slots__ = ("device", "fn")

    def __init__(self, device: Optional[int]) -> None:
        self.device = device
        self.fn: Optional[Callable[[], Any]] = None

    def __call__(self) -> None:
        fn = self.fn
        if fn is None:
            fn = self.fn = self.resolve()
        fn()

    def resolve(self) -> Callable[[], Any]:
        torch = sys.modules.get("torch")
        if torch is None:
            try:
                import torch  # type: ignore[import-not-found,no-redef]
            except ImportError:
                torch = None
        if torch is None or not torch.cuda.is_available():
            _core.log.warning("probe: sync='cuda' but %s; calls are timed without device synchronisation",
                              "torch is not installed" if torch is None else "CUDA is not available")
            return lambda: None
        synchronize: Callable[..., Any] = torch.cuda.synchronize
        return synchronize if self.device is None else functools.partial(synchronize, self.device)


def _sync_callable(sync: SyncArg) -> Optional[Callable[[], Any]]:
    if sync is None:
        return None
    if isinstance(sync, str):
        if sync == "cuda":
            return _CudaSync(None)
        if sync.startswith("cuda:") and sync[5:].isdigit():
            return _CudaSync(int(sync[5:]))
        raise ValueError(f"sync={sync!r}: use 'cuda', 'cuda:N' or a callable that waits for the device")
    if callable(sync):
        return sync
    raise TypeError(f"sync must be 'cuda', 'cuda:N' or a callable, not {type(sync).__name__}")


class Measure:
    """Times calls of one operation: `@probe.measure("predict")` on a function or `async def`
    function, or `with probe.measure("predict"):` / `async with` around a block.

    As a context manager, `items` is an int or a callable taking no arguments and `attributes`
    a mapping or a callable taking none; one Measure may time blocks in several threads or
    tasks at once.
    """

    __slots__ = ("_core", "_name", "_op", "_flags", "_opw", "_used", "_items", "_itemw", "_attributes", "_sync", "_track_memory",
                 "_open")

    def __init__(self, core: Core, name: str, items: ItemsArg, attributes: Any, slow_threshold: Optional[float],
                 sync: SyncArg, track_memory: bool) -> None:
        if not isinstance(name, str):
            raise TypeError(f"operation name must be a str, not {type(name).__name__}")
        if items is not None and not callable(items) and not isinstance(items, int):
            raise TypeError(f"items must be an int or a callable given the call's arguments, not {type(items).__name__}")
        if attributes is not None and not callable(attributes) and not hasattr(attributes, "items"):
            raise TypeError("attributes must be a callable given the call's arguments (returning a dict) or a mapping")
        if slow_threshold is not None and (not isinstance(slow_threshold, (int, float)) or slow_threshold < 0):
            raise ValueError(f"slow_threshold must be a number of seconds >= 0, not {slow_threshold!r}")
        self._core = core
        self._name = name
        self._sync = _sync_callable(sync)
        self._track_memory = bool(track_memory) and core.prepare_memory()
        self._op = core.operation_id(name, attributes is not None)
        self._flags = _wire.EVENT_DEVICE_SYNCHRONIZED if self._sync is not None else 0
        self._opw = None if self._op is None else self._op | self._flags << 32
        self._used = False
        self._items = items
        self._itemw = clamp_items(items) if isinstance(items, int) else 1
        self._attributes = attributes
        self._open: Dict[Any, Tuple[int, bytes, Any]] = {}
        if slow_threshold is not None:
            core.set_client_threshold(name, int(round(slow_threshold * 1e9)))

    # MARK: Decorator

    def __call__(self, fn: F) -> F:
        if not callable(fn):
            raise TypeError(f"probe.measure({self._name!r}) decorates a function, not {type(fn).__name__}")
        if inspect.isgeneratorfunction(fn) or inspect.isasyncgenfunction(fn):
            raise TypeError(f"probe.measure({self._name!r}) cannot time a generator function ({fn.__qualname__}): "
                            "it returns at once; use `with probe.measure(...)` inside it around the work")
        is_async = inspect.iscoroutinefunction(fn)
        core = self._core
        if self._op is None:
            wrapper = _dropping_wrapper(fn, is_async, core)
        else:
            sync = self._sync
            sync_kind = 0 if sync is None else (2 if inspect.iscoroutinefunction(sync) else 1)
            if sync_kind == 2 and not is_async:
                raise TypeError(f"probe.measure({self._name!r}): an async sync callable needs an async function")
            key = (is_async, callable(self._items), sync_kind, self._track_memory, self._attributes is not None)
            op = self._op
            wrapper = _factory(key)(
                fn, _core.clock, core.events, core.events.append, core.events_limit, next, core.drops, op,
                self._opw, self._itemw, self._items, functools.partial(_bad_items, core, self._name), sync,
                core.failed, core.slow, core.thresholds, self._attributes, core.read_rss, core.memory_delta, len,
                core.use)
        return functools.wraps(fn)(wrapper)  # type: ignore[return-value]

    # MARK: Context manager

    def _begin(self) -> None:
        before = self._core.read_rss() if self._track_memory else b""
        if self._sync is not None:
            self._sync()
        key = _timer_key()
        self._open[key] = (_core.clock(), before, self._open.get(key))

    def _end(self, error: Optional[BaseException]) -> None:
        end = _core.clock()
        key = _timer_key()
        entry = self._open.pop(key, None)
        if entry is None:
            return  # __exit__ without __enter__ on this thread or task
        start, before, outer = entry
        if outer is not None:
            self._open[key] = outer
        if error is not None and not isinstance(error, Exception):
            return  # KeyboardInterrupt, SystemExit, CancelledError: interrupted, not failed
        core, op = self._core, self._op
        if op is None:
            next(core.drops)
            return
        if not self._used:
            self._used = core.use(op)
        opw = op | self._flags << 32
        items = self._items
        try:
            n = clamp_items(int(items())) if callable(items) else self._itemw
        except Exception:
            n = _bad_items(core, self._name)
        attributes = self._attributes
        if error is not None:
            core.failed(opw, start, end - start, n, error, attributes, (), {})
        else:
            if len(core.events) < core.events_limit:
                core.events.append((opw, start, end - start, n))
            else:
                next(core.drops)
            if attributes is not None and end - start > core.thresholds[op]:
                core.slow(op, start, end - start, n, attributes, (), {})
        if self._track_memory:
            core.memory_delta(op, before)

    def __enter__(self) -> "Measure":
        self._begin()
        return self

    def __exit__(self, exc_type: Any, error: Optional[BaseException], tb: Any) -> None:
        if error is None and self._sync is not None:
            try:
                self._sync()
            except Exception as e:  # the device's error fails the block, and propagates
                self._end(e)
                raise
        self._end(error)

    async def __aenter__(self) -> "Measure":
        before = self._core.read_rss() if self._track_memory else b""
        if self._sync is not None and inspect.iscoroutinefunction(self._sync):
            await self._sync()
            key = _timer_key()
            self._open[key] = (_core.clock(), before, self._open.get(key))
        else:
            self._begin()
        return self

    async def __aexit__(self, exc_type: Any, error: Optional[BaseException], tb: Any) -> None:
        if error is None and self._sync is not None:
            try:
                result = self._sync()
                if inspect.isawaitable(result):
                    await result
            except Exception as e:
                self._end(e)
                raise
        self._end(error)


def _timer_key(get_ident: Callable[[], int] = threading.get_ident, modules: Dict[str, Any] = sys.modules) -> Any:
    """Who is timing a block: this thread, and the asyncio task running on it, if any (tasks
    interleave on one thread, so one Measure may time a block in each at once)."""
    asyncio = modules.get("asyncio")
    if asyncio is not None and asyncio._get_running_loop() is not None:
        return (get_ident(), id(asyncio.current_task()))
    return get_ident()


def _bad_items(core: Core, name: str) -> int:
    core.warn_once("items:" + name, "probe: items for %r raised or returned a non-integer; recorded as 1", name,
                   exc_info=True)
    return 1


def _dropping_wrapper(fn: Callable[..., Any], is_async: bool, core: Core) -> Callable[..., Any]:
    """Calls of an operation past the id limit: run, not timed, dropped and counted."""
    drops = core.drops
    if is_async:
        async def dropping_async(*args: Any, **kwargs: Any) -> Any:
            next(drops)
            return await fn(*args, **kwargs)

        return dropping_async

    def dropping(*args: Any, **kwargs: Any) -> Any:
        next(drops)
        return fn(*args, **kwargs)

    return dropping
