"""What this CPU offers for inference: its model name, its vector-instruction flags, its cores, and one
short key that names them (the key of every speed verdict: a Space's hardware is not fixed)."""

from __future__ import annotations

import functools
import hashlib
import os
import platform
from pathlib import Path

# The flags that decide int8 and bf16 speed: AVX2/AVX-512, VNNI (int8 dot products), BF16, AMX.
_PREFIXES = ("avx", "amx", "fma")


@functools.cache
def cpu_info() -> dict:
    """``{"cpu": model name, "vector_flags": [...], "cpus": usable cores}`` (Linux ``/proc/cpuinfo``;
    elsewhere the platform's processor name and no flags)."""
    name, flags = platform.processor() or platform.machine(), []
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        name = next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
        every = next(line.split(":", 1)[1].split() for line in lines if line.startswith("flags"))
        flags = sorted(f for f in set(every) if f.startswith(_PREFIXES) or "vnni" in f or "bf16" in f)
    except (OSError, StopIteration):
        pass
    return {"cpu": name, "vector_flags": flags, "cpus": usable_cpus()}


def usable_cpus() -> int:
    """Cores this process may run on (a container's CPU set, not the host's count)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def has_bf16() -> bool:
    """The CPU computes in bfloat16 natively (AVX-512 BF16 or AMX); without it bf16 is emulated, ~6×
    slower than fp32 (docs/performance.md)."""
    flags = set(cpu_info()["vector_flags"])
    return bool(flags & {"avx512_bf16", "amx_bf16"})


def has_vnni() -> bool:
    """The CPU has int8 dot-product instructions (AVX-512 VNNI or AVX-VNNI)."""
    return bool(set(cpu_info()["vector_flags"]) & {"avx512_vnni", "avx_vnni"})


def cpu_key() -> str:
    """A short name for this CPU kind and core count, e.g. ``"8c1f2e3a4b5c-2c"``."""
    info = cpu_info()
    digest = hashlib.sha256(f"{info['cpu']}|{' '.join(info['vector_flags'])}".encode()).hexdigest()[:12]
    return f"{digest}-{info['cpus']}c"
