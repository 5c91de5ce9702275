"""First-layer products that skip the inputs that are zero (compiled, numba + llvmlite).

Four in five pixels of an MNIST digit are 0, and ``X @ W0`` spends four fifths of its
multiplications on them. These kernels take a block of ``_ROWS`` rows, find the columns
that are not zero in any of them (a bit mask per 64 columns: the rows' bits or-ed, one
vector compare per 16 columns), and for each such column ``k`` add ``X[r, k] * W0[k]``
(one vector of up to 16 outputs) to each row's sum, kept in registers; ``X.T @ D``
likewise adds ``sum_r X[r, k] * D[r]`` to row ``k`` of the gradient. A block of four
rows has 38 % of MNIST's columns to visit (one row 19 %, eight 45 %): fewer
multiplications than the dense product, each of a whole vector of outputs. The kernels
take a range of columns too, so that two threads can split a product by columns.

Measured on AMD EPYC (Zen 4), one thread, the 10,000 MNIST test digits times a
784 x 16 float32 matrix: 1.7-1.9 ms on float32 pixels and 2.0 ms on uint8, against
2.9-3.0 and 4.1-4.2 ms for OpenBLAS in calls of 64 rows, converting uint8 first (6.1-6.4
and 7.4 ms with its Haswell kernels); on dense random data 2.9 ms, as BLAS. Reading the
31 MB of float32 pixels alone takes 1.3 ms.
Reading the next block's rows ahead (a prefetch, into the second-level cache) is what
makes the float32 case fast: without it 3.1 ms. In a training epoch, 60,000 shuffled
float32 rows of 3 kB are read from memory: 16-18 ms for the forward product on one
thread.

Vector code is written as LLVM IR (``llvmlite.ir``) inside numba intrinsics: numba has
no vector types, and its loops keep sixteen sums in memory, not in a register.
Masked loads and stores keep every access inside the arrays (a first layer of fewer
than 16 units, the last columns). The sums run over the visited columns in order, so
a result depends on the rows of its block only through which columns are visited; a
row's sum skips exact zeros only, so it differs from BLAS's by rounding (and by the
sign of a zero). NaN and infinity in ``X`` are not zero and propagate; ``covers``
keeps the dense product for weights that are not finite (``0 * inf`` is NaN there).
"""

import numpy as np

from ._kernel_math import _jit, numba

if numba is not None:
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic

# Rows per block (measured, as above: 1 row 2.6 ms, 2 rows 1.9, 4 rows 1.7, 8 rows 1.7);
# the last two or three rows of a range go as a pair (and one).
_ROWS = 4
# Where the rows read ahead go: 2 is the second-level cache (x86's prefetcht1), not the
# first (3, prefetcht0), where the next block's 12 kB would push out the lines of W0
# and of the rows in use (W0 alone is 50 kB in float32, the first-level cache 32 kB).
# Measured on AMD EPYC (Zen 4), one thread: the 10,000 test digits' product 2.3-2.6 ->
# 1.7-2.1 ms; an MNIST epoch at batch 200, 43 -> 39-41 ms on one thread, 26 -> 23 ms
# on two; locality 1 measured the same as 2.
_PREFETCH_LOCALITY = 2
# Outputs per vector: the kernels cover first layers of up to this many units.
LANES = 16
# Use the kernels when at most this share of a sample of X's values is non-zero: at
# MNIST's 19 % they take 0.55 of BLAS's time, and dense data is no slower (above); the
# margin keeps the dense product where rounding differences would buy nothing.
MAX_DENSITY = 0.5


# Rows sampled to judge X: counting a prediction's 10,000 MNIST rows would cost a sixth
# of the product; 64 rows spread over X take some 0.05 ms (0.1 ms right after another
# estimator's work has emptied the caches). A prediction samples 16: a sample only
# decides which of two correct products runs, and MNIST's 19 % is far from the limit.
_SAMPLE_ROWS = 64
PREDICT_SAMPLE_ROWS = 16


def _sample(X, rows=_SAMPLE_ROWS):
    """Up to ``rows`` rows spread over ``X``."""
    return X[:: max(1, X.shape[0] // rows)][:rows]


def density(X, rows=_SAMPLE_ROWS):
    """Share of non-zero values in a sample of ``rows`` of ``X``'s rows (``_sample``'s)."""
    if X.shape[0] == 0 or X.shape[1] == 0:
        return 1.0
    step = max(1, X.shape[0] // rows)
    taken = min(rows, -(-X.shape[0] // step))
    if numba is None or X.dtype.kind not in "uif":
        return float(np.count_nonzero(_sample(X, rows))) / (taken * X.shape[1])
    # compiled: numpy's count of a strided sample takes twice as long (0.05 ms against
    # 0.02 right after another estimator's work, for 16 MNIST rows)
    return _count_nonzero(X, step, taken) / (taken * X.shape[1])


@_jit
def _count_nonzero(X, step, rows):
    """The non-zero values of rows 0, step, .. (rows - 1) step of X."""
    count = 0
    for i in range(rows):
        row = X[i * step]
        for k in range(row.shape[0]):
            count += row[k] != 0
    return count


def column_split(X, share):
    """The column c at which columns ``0 .. c - 1`` of ``X`` hold about ``share`` of the
    kernels' work: the columns they visit, in blocks of ``_ROWS`` rows of a sample."""
    rows = _sample(X)
    if rows.shape[0] < _ROWS:
        visits = rows != 0
    else:
        whole = rows.shape[0] // _ROWS * _ROWS
        visits = (rows[:whole] != 0).reshape(-1, _ROWS, X.shape[1]).any(axis=1)
    work = np.cumsum(visits.sum(axis=0))
    if work.size == 0 or work[-1] == 0:
        return round(share * X.shape[1])
    return int(np.searchsorted(work, share * work[-1], side="right"))


def covers(W0):
    """Whether the kernels can compute ``X @ W0``: numba, a C-ordered float ``W0`` of at
    most ``LANES`` columns, all finite (the dense product turns ``0 * inf`` into NaN)."""
    return (numba is not None and W0.dtype in (np.float32, np.float64)
            and W0.flags.c_contiguous and 0 < W0.shape[1] <= LANES
            and bool(np.isfinite(W0).all()))


def sparse_enough(X, rows=_SAMPLE_ROWS):
    """Whether ``X`` is a C-ordered array of real numbers with few enough non-zero values
    for the kernels to pay (``MAX_DENSITY``, on a sample of ``rows`` rows)."""
    return (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "uif"
            and X.flags.c_contiguous and density(X, rows) <= MAX_DENSITY)


if numba is not None:
    _I1, _I8, _I16, _I32, _I64 = (ir.IntType(w) for w in (1, 8, 16, 32, 64))
    # llvmlite 0.45 and later print every pointer as LLVM's opaque ``ptr``; earlier ones
    # keep typed pointers, and LLVM names the intrinsics that take them after the type
    _OPAQUE = str(ir.PointerType(_I8)) == "ptr"

    def _suffix(ty):
        if isinstance(ty, ir.VectorType):
            return f"v{ty.count}{_suffix(ty.element)}"
        if isinstance(ty, ir.IntType):
            return f"i{ty.width}"
        return {"float": "f32", "double": "f64"}[str(ty)]

    def _bytes(ty):
        return ty.width // 8 if isinstance(ty, ir.IntType) else {"float": 4, "double": 8}[str(ty)]

    def _pointer_suffix(ty):
        return "p0" if _OPAQUE else f"p0{_suffix(ty)}"

    class _Emitter:
        """An ``ir.IRBuilder`` with the few vector operations the kernels use."""

        def __init__(self, module, builder, ft):
            self.m, self.b, self.ft = module, builder, ft
            self.vf = ir.VectorType(ft, LANES)
            self.iota = ir.Constant(ir.VectorType(_I32, LANES), list(range(LANES)))

        def intrinsic(self, name, ret, args):
            return cgutils.get_or_insert_function(self.m, ir.FunctionType(ret, args), name)

        def splat(self, value):
            vt = ir.VectorType(value.type, LANES)
            one = self.b.insert_element(ir.Constant(vt, ir.Undefined), value, _I32(0))
            return self.b.shuffle_vector(one, ir.Constant(vt, ir.Undefined),
                                         ir.Constant(ir.VectorType(_I32, LANES), [0] * LANES))

        def first_lanes(self, count):
            """The mask of lanes ``0 .. count - 1`` (none when ``count`` <= 0)."""
            bound = self.splat(self.b.trunc(self.b.select(
                self.b.icmp_signed(">", count, _I64(LANES)), _I64(LANES), count), _I32))
            return self.b.icmp_signed("<", self.iota, bound)

        def vector_pointer(self, pointer, vt):
            return self.b.bitcast(pointer, ir.PointerType(vt))

        def masked_load(self, pointer, vt, mask):
            fn = self.intrinsic(f"llvm.masked.load.{_suffix(vt)}.{_pointer_suffix(vt)}", vt,
                                [ir.PointerType(vt), _I32, mask.type, vt])
            return self.b.call(fn, [self.vector_pointer(pointer, vt), _I32(_bytes(vt.element)),
                                    mask, ir.Constant(vt, None)])

        def masked_store(self, value, pointer, mask):
            vt = value.type
            fn = self.intrinsic(f"llvm.masked.store.{_suffix(vt)}.{_pointer_suffix(vt)}",
                                ir.VoidType(), [vt, ir.PointerType(vt), _I32, mask.type])
            self.b.call(fn, [value, self.vector_pointer(pointer, vt), _I32(_bytes(vt.element)),
                             mask])

        def fma(self, a, x, y):
            vt = a.type
            fn = self.intrinsic(f"llvm.fma.{_suffix(vt)}", vt, [vt, vt, vt])
            return self.b.call(fn, [a, x, y])

        def cttz(self, value):
            fn = self.intrinsic("llvm.cttz.i64", _I64, [_I64, _I1])
            return self.b.call(fn, [value, _I1(1)])

        def prefetch(self, pointer):
            """Read ``pointer``'s cache line ahead into the second-level cache (LLVM's
            locality 2, x86's prefetcht1; see ``_PREFETCH_LOCALITY``)."""
            p8 = self.b.bitcast(pointer, ir.PointerType(_I8))
            fn = self.intrinsic(f"llvm.prefetch.{'p0' if _OPAQUE else 'p0i8'}",
                                ir.VoidType(), [ir.PointerType(_I8), _I32, _I32, _I32])
            self.b.call(fn, [p8, _I32(0), _I32(_PREFETCH_LOCALITY), _I32(1)])

        def as_float(self, value, signed):
            """``value`` (an integer, signed or not, or a float) in the kernel's float."""
            if isinstance(value.type, ir.IntType):
                return (self.b.sitofp if signed else self.b.uitofp)(value, self.ft)
            if _bytes(value.type) < _bytes(self.ft):
                return self.b.fpext(value, self.ft)
            if _bytes(value.type) > _bytes(self.ft):
                return self.b.fptrunc(value, self.ft)
            return value

    def _nonzero_columns(e, rows, xt, col_lo, col_hi, c0, whole):
        """The i64 mask of columns ``c0 .. c0 + 63`` (those from ``col_lo`` to
        ``col_hi - 1``) not zero in some row; ``rows`` point to the rows' first values.
        ``whole``: all 64 columns are in the range, read without masks."""
        vx = ir.VectorType(xt, LANES)
        mask = _I64(0)
        for sub in range(64 // LANES):
            col = e.b.add(c0, _I64(LANES * sub))
            if not whole:
                valid = e.b.and_(e.first_lanes(e.b.sub(col_hi, col)),
                                 e.b.not_(e.first_lanes(e.b.sub(col_lo, col))))
            bits_type = ir.VectorType(ir.IntType(8 * _bytes(xt)), LANES)
            either = None  # the rows' bits, or-ed: not zero where some row is not
            for row in rows:
                at = e.b.gep(row, [col])
                v = (e.b.load(e.vector_pointer(at, vx), align=_bytes(xt)) if whole
                     else e.masked_load(at, vx, valid))
                v = e.b.bitcast(v, bits_type)
                either = v if either is None else e.b.or_(either, v)
            seen = e.b.icmp_unsigned("!=", either, ir.Constant(bits_type, None))
            bits = e.b.zext(e.b.bitcast(seen, _I16), _I64)
            mask = e.b.or_(mask, e.b.shl(bits, _I64(LANES * sub)))
        return mask

    def _phis(b, values, block):
        """A phi node for each of ``values``, which come from ``block``; the other
        incoming values are added later."""
        nodes = []
        for value in values:
            node = b.phi(value.type)
            node.add_incoming(value, block)
            nodes.append(node)
        return nodes

    def _define(module, kind, n_rows, ft, xt, signed):
        """``void(x, offsets, col_lo, col_hi, A, lda, u, B, ldb)``: row r of the block
        starts at ``x + offsets[r]``, and ``offsets[n_rows + r]`` is the row to read ahead
        for it; k runs over the columns ``col_lo .. col_hi - 1``; strides in elements.
        'forward' (A = W, B = Z): Z[r, :u] = sum_k x_r[k] W[k, :u]; 'gradient' (A = D,
        B = G): G[k, :ldb] += sum_r x_r[k] D[r, :ldb], D's lanes from u on read as 0.
        u <= LANES."""
        name = f"skdigitnet_{kind}{n_rows}_{'s' if signed else ''}{_suffix(xt)}_{_suffix(ft)}"
        if name in module.globals:
            return module.globals[name]
        px, pf = ir.PointerType(xt), ir.PointerType(ft)
        args = [px, ir.PointerType(_I64), _I64, _I64, pf, _I64, _I64, pf, _I64]
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), args), name)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        entry = fn.append_basic_block("entry")
        b = ir.IRBuilder(entry)
        e = _Emitter(module, b, ft)
        vf = e.vf
        x, offsets, col_lo, col_hi, A, lda, u, B, ldb = fn.args
        lanes = e.first_lanes(u)
        rows, ahead = ([b.gep(x, [b.load(b.gep(offsets, [_I64(i + r)]))])
                        for r in range(n_rows)] for i in (0, n_rows))
        if kind == "gradient":
            deltas = [e.masked_load(b.gep(A, [b.mul(lda, _I64(r))]), vf, lanes)
                      for r in range(n_rows)]
            # a gradient of LANES columns is read and written whole: masked stores
            # to rows that overlap the next one's vector wait for each other
            lanes = e.first_lanes(ldb)
        first_group = b.lshr(col_lo, _I64(6))
        groups = b.lshr(b.add(col_hi, _I64(63)), _I64(6))
        line = 64 // _bytes(xt)  # values per cache line

        head = fn.append_basic_block("group")
        body = fn.append_basic_block("group_body")
        bits_head = fn.append_basic_block("column")
        bits_body = fn.append_basic_block("column_body")
        next_group = fn.append_basic_block("group_end")
        done = fn.append_basic_block("done")
        b.branch(head)

        b.position_at_end(head)
        g = b.phi(_I64)
        g.add_incoming(first_group, entry)
        zero = ir.Constant(vf, None)  # forward: each row's sum, carried from group to group
        sums = _phis(b, [zero] * n_rows if kind == "forward" else [], entry)
        b.cbranch(b.icmp_unsigned("<", g, groups), body, done)

        b.position_at_end(body)
        c0 = b.shl(g, _I64(6))
        for row in ahead:  # the next block's rows, while this one computes
            for offset in range(0, 64, line):
                e.prefetch(b.gep(row, [b.add(c0, _I64(offset))]))
        # groups inside the range (all but the first and last) read without masks
        whole_group = fn.append_basic_block("whole_group")
        edge_group = fn.append_basic_block("edge_group")
        b.cbranch(b.and_(b.icmp_signed(">=", c0, col_lo),
                         b.icmp_signed("<=", b.add(c0, _I64(64)), col_hi)),
                  whole_group, edge_group)
        masks = []
        for block, whole in ((whole_group, True), (edge_group, False)):
            b.position_at_end(block)
            masks.append((_nonzero_columns(e, rows, xt, col_lo, col_hi, c0, whole), block))
            b.branch(bits_head)

        b.position_at_end(bits_head)
        m = b.phi(_I64)
        for mask, block in masks:
            m.add_incoming(mask, block)
        inner = _phis(b, sums, masks[0][1])  # ... and from column to column
        for node, value in zip(inner, sums):
            node.add_incoming(value, masks[1][1])
        b.cbranch(b.icmp_unsigned("!=", m, _I64(0)), bits_body, next_group)

        b.position_at_end(bits_body)
        k = b.add(c0, e.cttz(m))
        m_next = b.and_(m, b.sub(m, _I64(1)))
        values = [e.splat(e.as_float(b.load(b.gep(row, [k])), signed)) for row in rows]
        if kind == "forward":
            w = e.masked_load(b.gep(A, [b.mul(k, lda)]), vf, lanes)
            updated = [e.fma(v, w, t) for v, t in zip(values, inner)]
            for t, new in zip(inner, updated):
                t.add_incoming(new, bits_body)
        else:
            target = b.gep(B, [b.mul(k, ldb)])
            terms = [b.fmul(values[0], deltas[0])]
            for v, d in zip(values[1:], deltas[1:]):
                if len(terms) % 2:  # pairs: (x0 d0 + x1 d1) + (x2 d2 + x3 d3)
                    terms[-1] = e.fma(v, d, terms[-1])
                else:
                    terms.append(b.fmul(v, d))
            total = terms[0]
            for term in terms[1:]:
                total = b.fadd(total, term)
            e.masked_store(b.fadd(e.masked_load(target, vf, lanes), total), target, lanes)
        m.add_incoming(m_next, bits_body)
        b.branch(bits_head)

        b.position_at_end(next_group)
        g.add_incoming(b.add(g, _I64(1)), next_group)
        for s, t in zip(sums, inner):
            s.add_incoming(t, next_group)
        b.branch(head)

        b.position_at_end(done)
        if kind == "forward":
            for r, s in enumerate(sums):
                e.masked_store(s, b.gep(B, [b.mul(ldb, _I64(r))]), lanes)
        b.ret_void()
        return fn

    _FLOATS = {numba.types.float32: ir.FloatType(), numba.types.float64: ir.DoubleType()}

    def _ir_type(dtype):
        """X's values as LLVM reads them, and whether they are signed integers."""
        if dtype in _FLOATS:
            return _FLOATS[dtype], False
        return ir.IntType(dtype.bitwidth), dtype.signed

    def _intrinsic(kind, n_rows):
        """A numba intrinsic ``(x, offsets, first, col_lo, col_hi, A, a_start, lda, u, B,
        b_start, ldb)`` calling ``_define``'s kernel with ``offsets[first:]`` and
        pointers into A and B at element offsets."""
        def typer(typingctx, x, offsets, first, col_lo, col_hi, A, a_start, lda, u, B,
                  b_start, ldb):
            if not (isinstance(x, numba.types.Array) and isinstance(A, numba.types.Array)
                    and isinstance(B, numba.types.Array) and A.dtype in _FLOATS
                    and B.dtype == A.dtype and isinstance(offsets, numba.types.Array)
                    and offsets.dtype == numba.types.int64
                    and (x.dtype in _FLOATS or isinstance(x.dtype, numba.types.Integer))):
                return None

            def codegen(context, builder, signature, args):
                fn = _define(builder.module, kind, n_rows, _FLOATS[A.dtype],
                             *_ir_type(x.dtype))

                def at(array_type, array, start):
                    data = context.make_array(array_type)(context, builder, array).data
                    return builder.gep(data, [start])
                xa, oa, o0, lo_, hi_, Aa, a0, lda_, u_, Ba, b0, ldb_ = args
                builder.call(fn, [at(x, xa, _I64(0)), at(offsets, oa, o0), lo_, hi_,
                                  at(A, Aa, a0), lda_, u_, at(B, Ba, b0), ldb_])
                return context.get_dummy_value()
            i64 = numba.types.int64
            return numba.types.void(x, offsets, i64, i64, i64, A, i64, i64, i64, B, i64,
                                    i64), codegen
        return intrinsic(typer)

    _forward_block = _intrinsic("forward", _ROWS)
    _forward_pair = _intrinsic("forward", 2)
    _forward_row = _intrinsic("forward", 1)
    _gradient_block = _intrinsic("gradient", _ROWS)
    _gradient_pair = _intrinsic("gradient", 2)
    _gradient_row = _intrinsic("gradient", 1)
else:  # pragma: no cover - exercised when numba is absent
    _forward_block = _forward_pair = _forward_row = None
    _gradient_block = _gradient_pair = _gradient_row = None


@_jit
def _row_offsets(X, order, start, lo, hi):
    """Where rows ``lo .. hi - 1`` start in ``X``'s data, in elements: row r is
    ``X[order[start + r]]``, or ``X[start + r]`` when ``order`` is empty; then ``_ROWS``
    more, the rows after them, for reading ahead: past ``hi``, the last row again, or
    with no order X's next rows (the next call's, when a prediction goes in chunks)."""
    ld = X.strides[0] // X.itemsize
    offsets = np.empty(hi - lo + _ROWS, np.int64)
    last = X.shape[0] - 1
    for i in range(offsets.shape[0]):
        if order.shape[0] > 0:
            offsets[i] = order[start + min(lo + i, hi - 1)] * ld
        else:
            offsets[i] = min(start + lo + i, last) * ld
    return offsets


@_jit
def forward_rows(X, order, start, W, Z, lo, hi, col_lo, col_hi):
    """``Z[r] = X[order[start + r], cols] @ W[cols]`` for r in ``lo .. hi - 1`` and the
    columns ``cols = col_lo .. col_hi - 1`` (row ``X[start + r]`` when ``order`` is
    empty), skipping zeros. X of any integer or float dtype (each value converted to
    W's dtype as it is read), its rows contiguous; W (n, u) C-ordered, u <= ``LANES``;
    Z's rows of any stride."""
    if hi <= lo:
        return
    offsets = _row_offsets(X, order, start, lo, hi)
    ldz = Z.strides[0] // Z.itemsize
    u, zero = np.int64(W.shape[1]), np.int64(0)
    r = lo
    while r + _ROWS <= hi:
        _forward_block(X, offsets, r - lo, col_lo, col_hi, W, zero, u, u, Z, r * ldz, ldz)
        r += _ROWS
    if r + 2 <= hi:  # the last rows: a pair, then one
        _forward_pair(X, offsets, r - lo, col_lo, col_hi, W, zero, u, u, Z, r * ldz, ldz)
        r += 2
    if r < hi:
        _forward_row(X, offsets, r - lo, col_lo, col_hi, W, zero, u, u, Z, r * ldz, ldz)


@_jit
def gradient_rows(X, order, start, D, G, padded, lo, hi, col_lo, col_hi):
    """``G[cols] = sum_r X[order[start + r], cols].T D[r]`` over r in ``lo .. hi - 1``
    (rows and columns as for ``forward_rows``), skipping zeros; G (n, u) C-ordered, its
    other rows untouched. With u < ``LANES`` the sums go to ``padded`` (n, LANES)
    first."""
    u, zero = np.int64(G.shape[1]), np.int64(0)
    target = G if u == LANES else padded
    ldt = np.int64(target.shape[1])
    rows = target[col_lo:col_hi]  # loops from 0 vectorise (see _kernels._finish_range)
    for k in range(rows.shape[0]):
        for j in range(ldt):
            rows[k, j] = 0
    if hi > lo:
        offsets = _row_offsets(X, order, start, lo, hi)
        ldd = D.strides[0] // D.itemsize
        r = lo
        while r + _ROWS <= hi:
            _gradient_block(X, offsets, r - lo, col_lo, col_hi, D, r * ldd, ldd, u, target,
                            zero, ldt)
            r += _ROWS
        if r + 2 <= hi:
            _gradient_pair(X, offsets, r - lo, col_lo, col_hi, D, r * ldd, ldd, u, target,
                           zero, ldt)
            r += 2
        if r < hi:
            _gradient_row(X, offsets, r - lo, col_lo, col_hi, D, r * ldd, ldd, u, target,
                          zero, ldt)
    if u < LANES:
        rows, out = padded[col_lo:col_hi], G[col_lo:col_hi]
        for k in range(rows.shape[0]):
            for j in range(u):
                out[k, j] = rows[k, j]
