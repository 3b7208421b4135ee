"""The guard in-process: run a policy's request-side layers on one input,
as ``mmsafe guard check --json`` does, without calling any model."""

from __future__ import annotations

import json
from typing import Any, Dict, Sequence

from . import _check, _native

__all__ = ["check"]


def check(prompt: str, images: Sequence[Any] = (), policy: str = "balanced") -> Dict[str, Any]:
    """Check ``prompt`` with ``images`` (encoded bytes, paths or PIL images)
    against ``policy`` (``strict``, ``balanced``, ``permissive`` or a TOML
    policy file).

    Returns ``{"policy", "decision", "layers"}``: ``decision`` is
    ``allow``, ``block`` or ``rewrite``; each layer has ``name``,
    ``decision`` (``pass``, ``flag``, ``rewrite``, ``block``, ``skipped``),
    ``reason``, ``ms`` and its ``detail`` (OCR text found, scores, …).
    """
    f = "guard.check"
    prompt = _check.string(f, "prompt", prompt)
    imgs = [_check.image_bytes(f, f"images[{i}]", im) for i, im in enumerate(_check.seq(f, "images", images))]
    policy = _check.string(f, "policy", policy)
    return json.loads(_native.guard_check(prompt, imgs, policy))
