"""Human-readable numbers for tables (JSON and CSV keep the exact integers)."""

from __future__ import annotations


def count(n: int) -> str:
    """1792 -> '1,792'."""
    return f"{n:,}"


def si(n: float, digits: int = 2) -> str:
    """15_470_000_000 -> '15.47G' (decimal prefixes, as published MAC/FLOP figures use)."""
    for factor, suffix in ((1e12, "T"), (1e9, "G"), (1e6, "M"), (1e3, "K")):
        if abs(n) >= factor:
            return f"{n / factor:.{digits}f}{suffix}"
    return f"{n:.0f}"


def nbytes(n: float) -> str:
    """Binary prefixes for memory: 102760448 -> '98.00 MiB'."""
    for factor, suffix in ((2**40, "TiB"), (2**30, "GiB"), (2**20, "MiB"), (2**10, "KiB")):
        if abs(n) >= factor:
            return f"{n / factor:.2f} {suffix}"
    return f"{n:.0f} B"


def shape(shapes: list[tuple[int, ...]] | list[list[int]]) -> str:
    """[(1, 64, 224, 224)] -> '1x64x224x224'; several outputs joined by ', '."""
    if not shapes:
        return "—"
    return ", ".join("x".join(str(d) for d in s) if len(s) else "scalar" for s in shapes)
