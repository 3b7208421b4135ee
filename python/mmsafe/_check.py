"""Argument checks shared by the public functions: a wrong type is a
``TypeError`` and a wrong value a ``ValueError``, each naming the argument."""

from __future__ import annotations

import difflib
import os
from typing import Any, Iterable, List, Mapping, Optional, Sequence, Union

PathLike = Union[str, "os.PathLike[str]"]


def _type_name(v: Any) -> str:
    return type(v).__name__


def string(func: str, name: str, v: Any) -> str:
    if not isinstance(v, str):
        raise TypeError(f"{func}(): `{name}` must be a str, not {_type_name(v)}")
    return v


def opt_string(func: str, name: str, v: Any) -> Optional[str]:
    return None if v is None else string(func, name, v)


def strings(func: str, name: str, v: Any) -> List[str]:
    """A str or a sequence of str, as a list; empty is a ValueError."""
    if isinstance(v, str):
        v = [v]
    if isinstance(v, (bytes, bytearray)) or not isinstance(v, (list, tuple)):
        raise TypeError(
            f"{func}(): `{name}` must be a str or a list of str, not {_type_name(v)}"
        )
    out = []
    for i, x in enumerate(v):
        if not isinstance(x, str):
            raise TypeError(f"{func}(): `{name}[{i}]` must be a str, not {_type_name(x)}")
        out.append(x)
    if not out:
        raise ValueError(f"{func}(): `{name}` is empty; give at least one")
    return out


def integer(func: str, name: str, v: Any, minimum: Optional[int] = None) -> int:
    # bool is an int subclass; `concurrency=True` is a mistake, not 1.
    if isinstance(v, bool) or not isinstance(v, int):
        raise TypeError(f"{func}(): `{name}` must be an int, not {_type_name(v)}")
    if minimum is not None and v < minimum:
        raise ValueError(f"{func}(): `{name}` must be at least {minimum}, got {v}")
    return v


def opt_integer(func: str, name: str, v: Any, minimum: Optional[int] = None) -> Optional[int]:
    return None if v is None else integer(func, name, v, minimum)


def number(func: str, name: str, v: Any, positive: bool = True) -> float:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        raise TypeError(f"{func}(): `{name}` must be a number, not {_type_name(v)}")
    x = float(v)
    if x != x or x in (float("inf"), float("-inf")) or (positive and x <= 0):
        raise ValueError(f"{func}(): `{name}` must be a positive finite number, got {v!r}")
    return x


def opt_number(func: str, name: str, v: Any) -> Optional[float]:
    return None if v is None else number(func, name, v)


def boolean(func: str, name: str, v: Any) -> bool:
    if not isinstance(v, bool):
        raise TypeError(f"{func}(): `{name}` must be a bool, not {_type_name(v)}")
    return v


def path(func: str, name: str, v: Any) -> str:
    if isinstance(v, os.PathLike):
        v = os.fspath(v)
    if not isinstance(v, str):
        raise TypeError(f"{func}(): `{name}` must be a path (str or os.PathLike), not {_type_name(v)}")
    if not v:
        raise ValueError(f"{func}(): `{name}` is empty")
    return v


def no_unknown(func: str, given: Mapping[str, Any], known: Iterable[str]) -> None:
    known = list(known)
    for k in given:
        if k not in known:
            close = difflib.get_close_matches(k, known, n=1)
            hint = f"; did you mean `{close[0]}`?" if close else f" (options: {', '.join(sorted(known))})"
            raise TypeError(f"{func}() got an unexpected keyword argument `{k}`{hint}")


def image_bytes(func: str, name: str, v: Any) -> bytes:
    """Encoded image bytes from bytes, a path, or a PIL image (saved as PNG)."""
    if isinstance(v, (bytes, bytearray, memoryview)):
        return bytes(v)
    if isinstance(v, (str, os.PathLike)):
        p = os.fspath(v)
        try:
            with open(p, "rb") as f:
                return f.read()
        except OSError as e:
            raise ValueError(f"{func}(): `{name}`: cannot read {p}: {e.strerror}") from None
    save = getattr(v, "save", None)
    if callable(save) and hasattr(v, "mode") and hasattr(v, "size"):
        import io

        buf = io.BytesIO()
        v.save(buf, format="PNG")
        return buf.getvalue()
    raise TypeError(
        f"{func}(): `{name}` must be image bytes, a path or a PIL image, not {_type_name(v)}"
    )


def seq(func: str, name: str, v: Any) -> Sequence[Any]:
    if isinstance(v, (str, bytes, bytearray)) or not isinstance(v, (list, tuple)):
        raise TypeError(f"{func}(): `{name}` must be a list, not {_type_name(v)}")
    return v
