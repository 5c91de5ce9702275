"""First-layer products that skip the inputs that are zero (numba + llvmlite).

Four in five pixels of an MNIST digit are 0, and ``X @ W0`` spends four fifths of its
multiplications on them. These kernels take a block of rows, find the columns that are
not zero in any of them (a bit mask per 64 columns: the rows' bits or-ed, one vector
compare per 16 columns), and for each such column ``k`` add ``X[r, k] * W0[k, tile]`` to
each row's sums, kept in vector registers; ``X.T @ D`` likewise adds ``sum_r X[r, k] *
D[r, tile]`` to row ``k`` of the gradient. A tile is one vector of 16 outputs; a wide
layer's products go tile by tile (``WIDE_ROWS`` rows by ``WIDE_VECTORS`` vectors, as
many as the CPU's vector registers hold), each tile of ``W0`` staying in cache while the
rows pass. A layer of exactly one vector (the seed network's 16 units) has no tiles:
``forward`` and ``gradient`` are two variants each, chosen when numba compiles them by
the type of their ``pad`` (None: one vector), so that a fit of the seed network compiles
no tiles (a first use's compiling takes seconds less). The kernels read ``X`` where it
is, through row offsets (a shuffled batch is never gathered), in any integer or float
dtype, and read the next block's rows ahead into the second-level cache (into the
first, they would push out the tile of ``W0``).

Vector code is written as LLVM IR (``llvmlite.ir``) inside numba intrinsics: numba has
no vector types, and its loops keep sums in memory, not in registers. Tiles are read and
written with plain vector loads and stores: a layer's last tile, when in part, is
computed on copies padded with zeros to a whole one, since masked stores are slow on
AVX2 and NEON (which has no masked loads) splits them lane by lane. Only X's columns
past the end of a row are read with masked loads. The sums run over the visited columns
in order, so a row's sum differs from BLAS's by rounding only (and by the sign of a
zero). NaN and infinity in ``X`` are not zero and propagate; ``covers`` keeps BLAS for
weights that are not finite (``0 * inf`` is NaN there).
"""

import numpy as np

from .elementwise import jit, numba

if numba is not None:
    import llvmlite.binding as llvm
    from llvmlite import ir
    from numba.core import cgutils
    from numba.extending import intrinsic, overload

#: Outputs per vector register.
LANES = 16
#: Rows per block of the narrow forward product and of the gradient.
ROWS = 4
#: Use the kernels when at most this share of a sample of X's values is non-zero: dense
#: data is as fast in BLAS, and the margin keeps BLAS where skipping would buy nothing.
MAX_DENSITY = 0.5
#: Rows sampled to judge X's density: a sample only decides which of two correct
#: products runs, and counting all of X would cost a prediction a sixth of its product.
SAMPLE_ROWS = 16


def density(X, rows=SAMPLE_ROWS):
    """Share of non-zero values in up to ``rows`` rows spread over ``X``."""
    if X.shape[0] == 0 or X.shape[1] == 0:
        return 1.0
    step = max(1, X.shape[0] // rows)
    sample = X[::step][:rows]
    return np.count_nonzero(sample) / sample.size


def covers(W0):
    """Whether the kernels can compute ``X @ W0``: a C-ordered float ``W0``, all finite
    (BLAS turns ``0 * inf`` into NaN; the kernels never multiply by the zeros)."""
    return (numba is not None and W0.dtype in (np.float32, np.float64)
            and W0.flags.c_contiguous and bool(np.isfinite(W0.sum())
                                               or np.isfinite(W0).all()))


def sparse_enough(X):
    """Whether ``X`` is a C-ordered array of real numbers with few enough non-zero values
    for the kernels to pay (``MAX_DENSITY``, on a sample of rows)."""
    return (isinstance(X, np.ndarray) and X.ndim == 2 and X.dtype.kind in "uif"
            and X.flags.c_contiguous and density(X) <= MAX_DENSITY)


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

        def load(self, pointer, vt, mask=None):
            """A vector from ``pointer``: plain, or only the lanes of ``mask`` (the others
            read as 0, their memory untouched)."""
            vp = self.b.bitcast(pointer, ir.PointerType(vt))
            if mask is None:
                return self.b.load(vp, align=_bytes(vt.element))
            pointer_type = "p0" if _OPAQUE else f"p0{_suffix(vt)}"
            fn = self.intrinsic(f"llvm.masked.load.{_suffix(vt)}.{pointer_type}", vt,
                                [ir.PointerType(vt), _I32, mask.type, vt])
            return self.b.call(fn, [vp, _I32(_bytes(vt.element)), mask, ir.Constant(vt, None)])

        def store(self, value, pointer):
            """``value`` to ``pointer``."""
            vp = self.b.bitcast(pointer, ir.PointerType(value.type))
            self.b.store(value, vp, align=_bytes(value.type.element))

        def fma(self, a, x, y):
            vt = a.type
            fn = self.intrinsic(f"llvm.fma.{_suffix(vt)}", vt, [vt, vt, vt])
            return self.b.call(fn, [a, x, y])

        def cttz(self, value):
            fn = self.intrinsic("llvm.cttz.i64", _I64, [_I64, _I1])
            return self.b.call(fn, [value, _I1(1)])

        def prefetch(self, pointer):
            """Read ``pointer``'s cache line ahead into the second-level cache (LLVM's
            locality 2, x86's prefetcht1)."""
            p8 = self.b.bitcast(pointer, ir.PointerType(_I8))
            fn = self.intrinsic(f"llvm.prefetch.{'p0' if _OPAQUE else 'p0i8'}",
                                ir.VoidType(), [ir.PointerType(_I8), _I32, _I32, _I32])
            self.b.call(fn, [p8, _I32(0), _I32(2), _I32(1)])

        def as_float(self, value, signed):
            """``value`` (an integer, signed or not, or a float) in the kernel's float."""
            if isinstance(value.type, ir.IntType):
                return (self.b.sitofp if signed else self.b.uitofp)(value, self.ft)
            if _bytes(value.type) < _bytes(self.ft):
                return self.b.fpext(value, self.ft)
            if _bytes(value.type) > _bytes(self.ft):
                return self.b.fptrunc(value, self.ft)
            return value

    def _nonzero_columns(e, rows, xt, n_cols, c0, whole):
        """The i64 mask of the columns ``c0 .. c0 + 63`` below ``n_cols`` that are not
        zero in some row; ``rows`` point to the rows' first values. ``whole``: all 64
        columns are below ``n_cols``, read without masks."""
        vx = ir.VectorType(xt, LANES)
        bits_type = ir.VectorType(ir.IntType(8 * _bytes(xt)), LANES)
        mask = _I64(0)
        for sub in range(64 // LANES):
            col = e.b.add(c0, _I64(LANES * sub))
            valid = None if whole else e.first_lanes(e.b.sub(n_cols, col))
            either = None  # the rows' bits, or-ed: not zero where some row is not
            for row in rows:
                v = e.b.bitcast(e.load(e.b.gep(row, [col]), vx, valid), bits_type)
                either = v if either is None else e.b.or_(either, v)
            seen = e.b.icmp_unsigned("!=", either, ir.Constant(bits_type, None))
            mask = e.b.or_(mask, e.b.shl(e.b.zext(e.b.bitcast(seen, _I16), _I64),
                                         _I64(LANES * sub)))
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

    class _Kernel:
        """The IR of one kernel: ``kind`` 'forward' or 'gradient', a block of ``n_rows``
        rows, tiles of ``n_vec`` vectors, ``ft`` the float type, ``xt`` X's type."""

        def __init__(self, fn, kind, n_rows, n_vec, ft, xt, signed):
            self.fn, self.kind, self.n_rows, self.n_vec = fn, kind, n_rows, n_vec
            self.ft, self.xt, self.signed = ft, xt, signed

        def emit(self, entry):
            """The body from ``entry`` to ``ret``: a tile of ``n_vec * LANES`` outputs."""
            fn, kind = self.fn, self.kind
            b = ir.IRBuilder(entry)
            e = _Emitter(fn.module, b, self.ft)
            x, offsets, n_cols, A, lda, B, ldb = fn.args
            rows, ahead = ([b.gep(x, [b.load(b.gep(offsets, [_I64(i + r)]))])
                            for r in range(self.n_rows)] for i in (0, self.n_rows))
            deltas = []
            if kind == "gradient":  # the block's deltas, held for the whole call
                deltas = [[e.load(b.gep(A, [b.add(b.mul(lda, _I64(r)), _I64(LANES * v))]),
                                  e.vf) for v in range(self.n_vec)]
                          for r in range(self.n_rows)]
            groups = b.lshr(b.add(n_cols, _I64(63)), _I64(6))
            full_groups = b.lshr(n_cols, _I64(6))
            line = 64 // _bytes(self.xt)  # values per cache line

            head, body, bits_head, bits_body, next_group, done, inside, edge = (
                fn.append_basic_block(name) for name in
                ("group", "group_body", "column", "column_body", "group_end", "done",
                 "inside", "edge"))
            b.branch(head)

            b.position_at_end(head)
            g = b.phi(_I64)
            g.add_incoming(_I64(0), entry)
            zero = ir.Constant(e.vf, None)  # forward: the sums, carried from group to group
            n_sums = self.n_rows * self.n_vec if kind == "forward" else 0
            sums = _phis(b, [zero] * n_sums, entry)
            b.cbranch(b.icmp_unsigned("<", g, groups), body, done)

            b.position_at_end(body)
            c0 = b.shl(g, _I64(6))
            for row in ahead:  # the next block's rows, while this one computes
                for offset in range(0, 64, line):
                    e.prefetch(b.gep(row, [b.add(c0, _I64(offset))]))
            # groups of 64 columns inside the row read X without masks; the last may not
            b.cbranch(b.icmp_unsigned("<", g, full_groups), inside, edge)
            masks = []
            for block, whole_group in ((inside, True), (edge, False)):
                b.position_at_end(block)
                masks.append((_nonzero_columns(e, rows, self.xt, n_cols, c0, whole_group),
                               block))
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
            values = [e.splat(e.as_float(b.load(b.gep(row, [k])), self.signed))
                      for row in rows]
            for v in range(self.n_vec):
                if kind == "forward":
                    w = e.load(b.gep(A, [b.add(b.mul(k, lda), _I64(LANES * v))]), e.vf)
                    for r, value in enumerate(values):
                        node = inner[r * self.n_vec + v]
                        node.add_incoming(e.fma(value, w, node), bits_body)
                    continue
                target = b.gep(B, [b.add(b.mul(k, ldb), _I64(LANES * v))])
                terms: list = []  # pairs: (x0 d0 + x1 d1) + (x2 d2 + x3 d3)
                for r, value in enumerate(values):
                    if r % 2:
                        terms[-1] = e.fma(value, deltas[r][v], terms[-1])
                    else:
                        terms.append(b.fmul(value, deltas[r][v]))
                total = e.load(target, e.vf)
                for term in terms:
                    total = b.fadd(total, term)
                e.store(total, target)
            m.add_incoming(b.and_(m, b.sub(m, _I64(1))), bits_body)
            b.branch(bits_head)

            b.position_at_end(next_group)
            g.add_incoming(b.add(g, _I64(1)), next_group)
            for s, t in zip(sums, inner):
                s.add_incoming(t, next_group)
            b.branch(head)

            b.position_at_end(done)
            for r in range(self.n_rows if kind == "forward" else 0):
                for v in range(self.n_vec):
                    e.store(sums[r * self.n_vec + v],
                            b.gep(B, [b.add(b.mul(ldb, _I64(r)), _I64(LANES * v))]))
            b.ret_void()

    def _define(module, kind, n_rows, n_vec, ft, xt, signed):
        """``void(x, offsets, n_cols, A, lda, B, ldb)``: row r of the block starts at
        ``x + offsets[r]``, and ``offsets[n_rows + r]`` is the row to read ahead for it; k
        runs over the columns ``0 .. n_cols - 1``; strides in elements; a tile of ``u =
        n_vec * LANES`` outputs. 'forward' (A = W, B = Z): ``Z[r, :u] = sum_k x_r[k] W[k,
        :u]``; 'gradient' (A = D, B = G): ``G[k, :u] += sum_r x_r[k] D[r, :u]``."""
        name = (f"skdigitnet_{kind}{n_rows}x{n_vec}_{'s' if signed else ''}{_suffix(xt)}_"
                f"{_suffix(ft)}")
        if name in module.globals:
            return module.globals[name]
        px, pf = ir.PointerType(xt), ir.PointerType(ft)
        args = [px, ir.PointerType(_I64), _I64, pf, _I64, pf, _I64]
        fn = ir.Function(module, ir.FunctionType(ir.VoidType(), args), name)
        fn.linkage = "internal"
        fn.attributes.add("alwaysinline")
        _Kernel(fn, kind, n_rows, n_vec, ft, xt, signed).emit(fn.append_basic_block("entry"))
        return fn

    _FLOATS = {numba.types.float32: ir.FloatType(), numba.types.float64: ir.DoubleType()}

    def _ir_type(dtype):
        """X's values as LLVM reads them, and whether they are signed integers."""
        if dtype in _FLOATS:
            return _FLOATS[dtype], False
        return ir.IntType(dtype.bitwidth), dtype.signed

    def _intrinsic(kind, n_rows, n_vec):
        """A numba intrinsic ``(x, offsets, A, B, at)`` calling ``_define``'s kernel, ``at``
        a tuple of six integers ``(first, n_cols, a_start, lda, b_start, ldb)``: the
        kernel reads the rows at ``offsets[first:]``, A and B from element offsets
        ``a_start`` and ``b_start``."""
        def typer(typingctx, x, offsets, A, B, at):
            if not (isinstance(x, numba.types.Array) and isinstance(A, numba.types.Array)
                    and isinstance(B, numba.types.Array) and A.dtype in _FLOATS
                    and B.dtype == A.dtype and isinstance(offsets, numba.types.Array)
                    and offsets.dtype == numba.types.int64
                    and (x.dtype in _FLOATS or isinstance(x.dtype, numba.types.Integer))
                    and isinstance(at, numba.types.BaseTuple) and len(at) == 6
                    and all(isinstance(t, numba.types.Integer) for t in at)):
                return None

            def codegen(context, builder, signature, args):
                fn = _define(builder.module, kind, n_rows, n_vec, _FLOATS[A.dtype],
                             *_ir_type(x.dtype))

                def pointer(array_type, array, start):
                    data = context.make_array(array_type)(context, builder, array).data
                    return builder.gep(data, [start])
                xa, oa, Aa, Ba, where = args
                first, cols, a0, lda, b0, ldb = (
                    context.cast(builder, builder.extract_value(where, i), t,
                                 numba.types.int64) for i, t in enumerate(at))
                builder.call(fn, [pointer(x, xa, _I64(0)), pointer(offsets, oa, first), cols,
                                  pointer(A, Aa, a0), lda, pointer(B, Ba, b0), ldb])
                return context.get_dummy_value()
            return numba.types.void(x, offsets, A, B, at), codegen
        return intrinsic(typer)


def registers_512() -> bool:
    """Whether numba compiles for a CPU with 32 vector registers of 512 bits (AVX-512:
    ``+avx512f`` in the features numba gives LLVM), rather than 16 of 256 (AVX2), or
    NEON's 32 of 128."""
    if numba is None:
        return False
    features = numba.config.CPU_FEATURES  # NUMBA_CPU_FEATURES, else the host's
    if features is None:
        if not numba.config.ENABLE_AVX:
            return False
        try:
            features = llvm.get_host_cpu_features().flatten()
        except RuntimeError:  # pragma: no cover - LLVM could not read the host's features
            return False
    return "+avx512f" in features.split(",")


#: A wide layer's block of rows and tile of vectors. Their sums stay in registers: on
#: AVX-512, blocks of four rows and tiles of four vectors (64 outputs) were the fastest
#: of 1 to 4 rows and 1 to 8 vectors, for 100 to 800 outputs; with half as many
#: registers, a quarter as wide, those sums no longer fit and spill to memory (slower
#: than BLAS from 256 outputs on AVX2), and two rows by two vectors are the fastest.
WIDE_ROWS, WIDE_VECTORS = (4, 4) if registers_512() else (2, 2)
#: Outputs per tile of a wide forward product.
_WIDE = WIDE_VECTORS * LANES

if numba is not None:
    # a narrow layer's block of four rows by one vector, a wide layer's block, and a row
    # by one vector: the last rows of a range, one at a time (vector by vector in a wide
    # tile)
    _forward_block = _intrinsic("forward", ROWS, 1)
    _forward_wide = _intrinsic("forward", WIDE_ROWS, WIDE_VECTORS)
    _forward_row = _intrinsic("forward", 1, 1)
    _gradient_block = _intrinsic("gradient", ROWS, 1)
    _gradient_wide = _intrinsic("gradient", WIDE_ROWS, WIDE_VECTORS)
    _gradient_row = _intrinsic("gradient", 1, 1)
else:  # pragma: no cover - exercised when numba is absent
    _forward_block = _forward_row = _forward_wide = None
    _gradient_block = _gradient_row = _gradient_wide = None


def pad_size(n_features, rows):
    """Length of the ``pad`` buffer ``forward`` and ``gradient`` take for a first layer
    of ``n_features`` inputs and batches of up to ``rows`` rows: room for a tile of the
    weights (or of the gradient) and one of the rows' sums (or deltas); a wide tile is
    the widest (``_WIDE >= LANES``)."""
    return (n_features + rows) * _WIDE


@jit(inline=True)
def _tile(left):
    """The outputs of the next tile when ``left`` are left: a wide tile, or one vector
    for the last vector's worth or less (a layer of 100 on AVX2: 3 wide tiles of 32 and
    one vector, not a fourth tile of 32 padded from 4)."""
    return np.int64(_WIDE if left > LANES else LANES)


@jit(inline=True)
def _zeros(pad, start, rows, cols):
    """A (rows, cols) C-ordered view of ``pad`` from ``start``, set to zero."""
    flat = pad[start: start + rows * cols]
    for i in range(flat.shape[0]):
        flat[i] = 0
    return flat.reshape((rows, cols))


@jit(inline=True)
def _copy(A, a, B, b, width):
    """``B[:, b:b + width] = A[:, a:a + width]`` (a slice assignment would cost numba
    seconds of compiling)."""
    for i in range(A.shape[0]):
        for j in range(width):
            B[i, b + j] = A[i, a + j]


@jit(inline=True)
def row_offsets(X, order, lo, hi, offsets):
    """Where the rows ``lo .. hi - 1`` of a batch start in X's data (row r is
    ``X[order[r]]``, or ``X[r]`` when ``order`` is empty), into ``offsets`` (at least
    ``hi - lo + ROWS`` long), for ``forward`` and ``gradient``; then ``ROWS`` more, the
    rows to read ahead: past ``hi``, X's next rows in order, or the last row again."""
    ld, last = X.strides[0] // X.itemsize, X.shape[0] - 1
    for i in range(hi - lo + ROWS):
        r = lo + i
        offsets[i] = (order[min(r, hi - 1)] if order.shape[0] > 0 else min(r, last)) * ld


def forward(X, order, lo, hi, offsets, W, Z, pad):
    """``Z[r] = x_r @ W`` for the rows ``lo .. hi - 1`` of a batch, skipping zeros;
    leaves in ``offsets`` where the rows start in X (``row_offsets``), for ``gradient``
    too. X of any integer or float dtype, its rows contiguous; W (k, u) and Z (>= n, u)
    C-ordered, in one float dtype. ``pad``: None when W is one vector wide (``u`` is
    ``LANES``, the seed network's first layer: blocks of rows, no tiles), else a buffer
    of W's dtype and ``pad_size(X.shape[1], n)`` values at least, for tiles
    (``_forward_tiles``). Callable from compiled code only."""


def gradient(X, offsets, n, D, G, pad):
    """``G = sum_r x_r.T D[r]`` over the ``n`` rows whose ``offsets`` ``forward`` left,
    skipping zeros; D (>= n, u) and G (k, u) C-ordered, in one float dtype; ``pad`` as
    ``forward``'s. Callable from compiled code only."""


def _forward_tiles(X, order, lo, hi, offsets, W, Z, pad):
    """``forward`` tile by tile, for any ``u``."""
    n = hi - lo
    row_offsets(X, order, lo, hi, offsets)
    n_cols, u = np.int64(X.shape[1]), np.int64(W.shape[1])
    for t in range(0, u, _WIDE):  # a wide layer: a tile of W at a time, all the rows
        tile = _tile(u - t)
        Wt, Zt, t0, lw = W, Z, t, u
        if u - t < tile:  # the last tile, in part: as gradient's
            Wt = _zeros(pad, 0, W.shape[0], tile)
            _copy(W, t, Wt, 0, u - t)
            Zt = _zeros(pad, W.shape[0] * tile, n, tile)
            t0, lw = np.int64(0), tile
        r = 0
        if tile == LANES:
            while r + ROWS <= n:
                _forward_block(X, offsets, Wt, Zt, (r, n_cols, t0, lw, r * lw + t0, lw))
                r += ROWS
        else:
            while r + WIDE_ROWS <= n:
                _forward_wide(X, offsets, Wt, Zt, (r, n_cols, t0, lw, r * lw + t0, lw))
                r += WIDE_ROWS
        for row in range(r, n):  # the last rows one by one
            for v in range(t0, t0 + tile, LANES):
                _forward_row(X, offsets, Wt, Zt, (row, n_cols, v, lw, row * lw + v, lw))
        if u - t < tile:
            _copy(Zt, 0, Z[:n], t, u - t)


def _gradient_tiles(X, offsets, n, D, G, pad):
    """``gradient`` tile by tile, for any ``u``."""
    flat = G.reshape(G.size)  # loops from 0 over a 1-D array vectorise
    for i in range(flat.shape[0]):
        flat[i] = 0
    n_cols, u = np.int64(X.shape[1]), np.int64(G.shape[1])
    for t in range(0, u, _WIDE):
        tile = _tile(u - t)
        width = min(tile, u - t)
        Dt, Gt, t0, ld = D, G, t, u
        # the last tile, in part: on copies padded with zeros to a whole tile, which the
        # kernels update with plain vector loads and stores (masked stores are slow on
        # AVX2, and NEON splits them lane by lane)
        padded = width < tile
        if padded:
            Dt = _zeros(pad, 0, n, tile)
            _copy(D[:n], t, Dt, 0, width)
            Gt = _zeros(pad, n * tile, G.shape[0], tile)
            t0, ld = np.int64(0), tile
        r = 0
        if tile == LANES:
            while r + ROWS <= n:
                _gradient_block(X, offsets, Dt, Gt, (r, n_cols, r * ld + t0, ld, t0, ld))
                r += ROWS
        else:
            while r + WIDE_ROWS <= n:
                _gradient_wide(X, offsets, Dt, Gt, (r, n_cols, r * ld + t0, ld, t0, ld))
                r += WIDE_ROWS
        for row in range(r, n):  # the last rows one by one
            for v in range(t0, t0 + tile, LANES):
                _gradient_row(X, offsets, Dt, Gt, (row, n_cols, row * ld + v, ld, v, ld))
        if padded:
            _copy(Gt, 0, G, t, width)


def _forward_vector(X, order, lo, hi, offsets, W, Z, pad):
    """``forward`` for W one vector wide: blocks of ``ROWS`` rows, then the last rows
    one by one; no tiles, no padding."""
    n, n_cols = hi - lo, np.int64(X.shape[1])
    row_offsets(X, order, lo, hi, offsets)
    r = 0
    while r + ROWS <= n:
        _forward_block(X, offsets, W, Z, (r, n_cols, 0, LANES, r * LANES, LANES))
        r += ROWS
    for row in range(r, n):
        _forward_row(X, offsets, W, Z, (row, n_cols, 0, LANES, row * LANES, LANES))


def _gradient_vector(X, offsets, n, D, G, pad):
    """``gradient`` for G one vector wide, as ``_forward_vector``."""
    flat = G.reshape(G.size)
    for i in range(flat.shape[0]):
        flat[i] = 0
    n_cols = np.int64(X.shape[1])
    r = 0
    while r + ROWS <= n:
        _gradient_block(X, offsets, D, G, (r, n_cols, r * LANES, LANES, 0, LANES))
        r += ROWS
    for row in range(r, n):
        _gradient_row(X, offsets, D, G, (row, n_cols, row * LANES, LANES, 0, LANES))


if numba is not None:
    # numba compiles only the variant the type of ``pad`` names
    @overload(forward)
    def _forward_typed(X, order, lo, hi, offsets, W, Z, pad):
        return _forward_vector if isinstance(pad, numba.types.NoneType) else _forward_tiles

    @overload(gradient)
    def _gradient_typed(X, offsets, n, D, G, pad):
        return _gradient_vector if isinstance(pad, numba.types.NoneType) else _gradient_tiles
