"""The receptive-field algebra of one spatial axis, and the record the rest of netanatomy reads.

Notation of Araujo, Norris & Sim, "Computing Receptive Fields of Convolutional Neural Networks",
Distill 2019: a unit of layer l sees ``r`` consecutive input pixels (the receptive-field size);
neighbouring units are ``j`` input pixels apart (the effective stride, or *jump*); unit ``i``'s
field starts at input coordinate ``-P + i·j`` (``P`` is the effective padding), so its centre is
``u_i = -P + i·j + (r - 1)/2`` (Distill eq. 5 and 6).

One layer with kernel ``k``, stride ``s``, padding ``p`` and dilation ``d`` (effective kernel
``k' = d·(k-1) + 1``) maps ``(r, j, P)`` to (Distill eq. 1-4, written as recurrences)::

    r = r_prev + (k' - 1)·j_prev        j = j_prev·s        P = P_prev + p·j_prev

Values are exact fractions: integer networks stay integers, and the fractional strides of
upsampling and transposed convolutions are kept exactly instead of being rounded away.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field, replace
from fractions import Fraction


@dataclass(frozen=True)
class AxisField:
    """The receptive field along one input axis of every unit of a tensor.

    ``size is None`` means global: every unit depends on the whole input along this axis.
    """

    size: Fraction | None
    jump: Fraction = Fraction(1)
    start: Fraction = Fraction(0)  # first input coordinate of unit 0's field, i.e. -P
    #: False once an op whose field is not the same for every unit (upsampling, a transposed
    #: convolution with stride > 1, adaptive pooling with uneven windows) lies on the path:
    #: ``size`` and ``start`` are then those of the linear model, not of every unit.
    exact: bool = True
    #: False when two merged paths disagree on jump or centre (Araujo et al. 2019, "alignment").
    aligned: bool = True

    @property
    def is_global(self) -> bool:
        return self.size is None

    @property
    def end(self) -> Fraction:
        """One past the last input coordinate of unit 0's field (start + size)."""
        assert self.size is not None
        return self.start + self.size

    @functools.cached_property
    def centre(self) -> Fraction | None:
        """Centre of unit 0's field: u_0 = -P + (r - 1)/2 (computed once per field: merges
        compare the centres of all their inputs, DenseNet's up to 32 at a time)."""
        return None if self.size is None else self.start + (self.size - 1) / 2

    @functools.cached_property
    def integral(self) -> tuple[int, int, int] | None:
        """``(size, jump, start)`` as ints when all three are integers (nearly every field of a
        CNN), else None: merges compare and add them as ints, ~20 times faster than Fractions."""
        size, jump, start = self.size, self.jump, self.start
        if size is None or size.denominator != 1 or jump.denominator != 1 or start.denominator != 1:
            return None
        return size.numerator, jump.numerator, start.numerator

    def window(self, k: int, s: int | Fraction, p: int | Fraction, d: int = 1) -> AxisField:
        """The field after a sliding window (convolution or pooling) along this axis."""
        if self.size is None:
            return self
        k_eff = d * (k - 1) + 1
        ints = self.integral
        if ints is not None and type(s) is int and type(p) is int:  # the same on ints (see _axis)
            size, jump, start = ints
            return _axis(size + (k_eff - 1) * jump, jump * s, start - p * jump, self.exact, self.aligned)
        return replace(self, size=self.size + (k_eff - 1) * self.jump, jump=self.jump * s, start=self.start - p * self.jump)

    def shift(self, offset: int | Fraction, step: int | Fraction = 1) -> AxisField:
        """Unit ``i`` of the result is unit ``offset + i·step`` of this tensor (crop, pad, slice)."""
        if self.size is None:
            return self
        ints = self.integral
        if ints is not None and type(offset) is int and type(step) is int:  # the same on ints (see _axis)
            size, jump, start = ints
            return _axis(size, jump * step, start + offset * jump, self.exact, self.aligned)
        return replace(self, start=self.start + offset * self.jump, jump=self.jump * step)

    def made_global(self) -> AxisField:
        return AxisField(None, exact=self.exact, aligned=self.aligned)

    def inexact(self) -> AxisField:
        return replace(self, exact=False)


#: Fractions of the integers seen so far, shared (Fractions are immutable): making one costs
#: ~1 µs, and a network's fields take few distinct values (DenseNet-121's ~2,300 per summary).
_FRACTIONS: dict[int, Fraction] = {}


def _fraction(n: int) -> Fraction:
    f = _FRACTIONS.get(n)
    if f is None:
        f = Fraction(n)
        if len(_FRACTIONS) < 1 << 16:
            _FRACTIONS[n] = f
    return f


def _axis(size: int, jump: int, start: int, exact: bool, aligned: bool) -> AxisField:
    """``AxisField(Fraction(size), Fraction(jump), Fraction(start), exact, aligned)``, its
    ``integral`` already known: the integer path of the field algebra (windows, shifts, unions)
    computes on ints and makes the record only here, with interned Fractions and without the
    frozen dataclass's ``__init__`` (five ``object.__setattr__`` calls, ~1.5 µs)."""
    f = object.__new__(AxisField)
    f.__dict__.update(size=_fraction(size), jump=_fraction(jump), start=_fraction(start), exact=exact, aligned=aligned,
                      integral=(size, jump, start))
    return f


def union(fields: list[AxisField]) -> tuple[AxisField, int]:
    """The field of a unit that reads several paths (residual add, concatenation).

    Returns the merged field and the index of the path that sets its size. Paths with the same
    jump give the exact union of their boxes; paths whose jump or centre differ are not aligned
    (Araujo et al. 2019): the result keeps the largest field and is marked unaligned.
    """
    if len(fields) == 1:  # one path (an activation, a batch norm): the union is the field itself
        return fields[0], 0
    ints = [f.integral for f in fields]
    if None not in ints:  # the same computation as below, on ints, one column at a time
        sizes, jumps, starts = zip(*ints)
        best = sizes.index(max(sizes))
        one_jump = jumps.count(jumps[0]) == len(jumps)
        twice_centres = [2 * st + sz for st, sz in zip(starts, sizes)]  # 2·u_0 + 1, ints
        aligned = (all([f.aligned for f in fields]) and one_jump
                   and twice_centres.count(twice_centres[0]) == len(twice_centres))
        exact = all([f.exact for f in fields])
        if one_jump:
            start = min(starts)
            end = max([st + sz for st, sz in zip(starts, sizes)])
            return _axis(end - start, jumps[0], start, exact, aligned), best
        return replace(fields[best], aligned=False, exact=False), best
    best = max(range(len(fields)), key=lambda i: _extent(fields[i]))
    if any(f.is_global for f in fields):
        return AxisField(None, exact=all(f.exact for f in fields), aligned=all(f.aligned for f in fields)), best
    # Comparisons with the first field, not sets: hashing a Fraction costs more than comparing it.
    jump, centre = fields[0].jump, fields[0].centre
    one_jump = all(f.jump == jump for f in fields)
    aligned = all(f.aligned for f in fields) and one_jump and all(f.centre == centre for f in fields)
    exact = all(f.exact for f in fields)
    if one_jump:
        start = min(f.start for f in fields)
        end = max(f.end for f in fields)
        return AxisField(end - start, fields[0].jump, start, exact, aligned), best
    return replace(fields[best], aligned=False, exact=False), best


def _extent(f: AxisField) -> Fraction:
    return Fraction(10**18) if f.size is None else f.size


@dataclass(frozen=True)
class FieldInfo:
    """The receptive field of one tensor (a module's output), one entry per input spatial axis.

    ``size[a] is None`` when the field is global along axis ``a``. ``start``, ``padding`` and
    ``centre`` are in input pixels, for unit 0; unit ``i`` is ``i·jump`` further along.
    """

    size: tuple[Fraction | None, ...]
    jump: tuple[Fraction, ...]
    start: tuple[Fraction, ...]
    #: length of the tensor dimension that walks along each input axis (None: no such dimension)
    units: tuple[int | None, ...]
    #: the input's own spatial size, for the clipping check
    input_size: tuple[int, ...]
    exact: bool = True
    aligned: bool = True
    known: bool = True
    note: str = ""  # why the field is unknown or inexact
    axes_fields: tuple[AxisField, ...] = field(default=(), repr=False)

    @property
    def is_global(self) -> bool:
        return self.known and bool(self.size) and all(s is None for s in self.size)

    @property
    def padding(self) -> tuple[Fraction, ...]:
        """Effective padding P per axis (Distill eq. 4); 0 on global axes."""
        return tuple(-s for s in self.start)

    @property
    def centre(self) -> tuple[Fraction | None, ...]:
        """Centre of unit 0 per axis: u_0 = -P + (r - 1)/2 (Distill eq. 6)."""
        return tuple(c if c is None or c.denominator != 1 else int(c) for c in (f.centre for f in self.axes_fields))  # type: ignore[misc]

    def box(self, unit: tuple[int, ...]) -> tuple[tuple[Fraction, Fraction] | None, ...]:
        """The input box (first, last coordinate, unclipped) that output unit ``unit`` sees."""
        out: list[tuple[Fraction, Fraction] | None] = []
        for f, i in zip(self.axes_fields, unit):
            if f.size is None:
                out.append(None)
            else:
                lo = f.start + i * f.jump
                out.append((lo, lo + f.size - 1))
        return tuple(out)

    def clipping(self) -> tuple[Fraction, ...]:
        """Per axis, how many pixels of the field fall outside the input (0 when it fits)."""
        return tuple(Fraction(0) if s is None else max(Fraction(0), s - n) for s, n in zip(self.size, self.input_size))

    def short(self) -> str:
        """A table cell: "7", "212", "7x5", "global", "212 !unaligned", "~3 !inexact", "?"."""
        if not self.known:
            return "?"
        if not self.size:
            return "-"
        if self.is_global:
            text = "global"
        else:
            parts = ["global" if s is None else fmt(s) for s in self.size]
            text = parts[0] if len(set(parts)) == 1 else "x".join(parts)
            if "global" in parts:
                text = " x ".join(parts)
        if not self.exact:
            text = "~" + text
        if not self.aligned:
            text += " !unaligned"
        return text


def fmt(x: Fraction | int | None) -> str:
    """A fraction as an integer when it is one, else "p/q"."""
    if x is None:
        return "global"
    if type(x) is int:  # most values (FieldInfo keeps integral ones as ints): no Fraction to make
        return str(x)
    x = Fraction(x)
    return str(x.numerator) if x.denominator == 1 else f"{x.numerator}/{x.denominator}"
