//! Strided f32 matrix products through the `gemm` crate (the kernel burn-flex runs on), on views of buffers the
//! kernels own: transposes are strides, never copies.

use gemm::{Parallelism, gemm};

/// Multiply-adds (`m·n·k`) from which one product is split over the thread pool (burn-flex's threshold).
const PARALLEL_FLOPS: usize = 192 * 192 * 192;

/// A strided matrix: element `(i, j)` at `ptr + i·row + j·col`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Mat {
    pub(super) ptr: *const f32,
    pub(super) row: isize,
    pub(super) col: isize,
}

impl Mat {
    /// A row-major `rows × cols` block starting at `ptr`.
    pub(super) fn dense(ptr: *const f32, cols: usize) -> Self {
        Self { ptr, row: cols as isize, col: 1 }
    }

    /// The view whose element `(0, 0)` is this one's `(i, j)`.
    pub(super) fn at(self, i: usize, j: usize) -> Self {
        let offset = i as isize * self.row + j as isize * self.col;
        Self { ptr: self.ptr.wrapping_offset(offset), ..self }
    }

    /// The transpose (a view).
    pub(super) fn t(self) -> Self {
        Self { ptr: self.ptr, row: self.col, col: self.row }
    }
}

/// The start of a buffer the tasks of one call share: each reads it, or writes elements no other task touches.
#[derive(Clone, Copy, Debug)]
pub(super) struct Base(pub(super) *const f32);

// SAFETY: an address; what tasks do through it is checked at each use.
unsafe impl Send for Base {}
unsafe impl Sync for Base {}

impl Base {
    pub(super) fn of(values: &[f32]) -> Self {
        Self(values.as_ptr())
    }

    pub(super) fn of_mut(values: &mut [f32]) -> Self {
        Self(values.as_mut_ptr())
    }

    /// The `len` elements from `offset` on, to write.
    ///
    /// # Safety
    /// They must lie inside the buffer, which must be writable and outlive the slice, and no other task may touch
    /// them meanwhile.
    pub(super) unsafe fn block<'a>(self, offset: usize, len: usize) -> &'a mut [f32] {
        // SAFETY: forwarded from the caller.
        unsafe { std::slice::from_raw_parts_mut(self.0.cast_mut().add(offset), len) }
    }
}

/// `dst = [dst +] scale · lhs · rhs` for `lhs` `m × k` and `rhs` `k × n`, on the calling thread.
///
/// # Safety
/// The three views must address live f32 buffers of the stated sizes, and no other thread may touch `dst`'s
/// elements meanwhile.
#[allow(clippy::too_many_arguments)]
pub(super) unsafe fn matmul(m: usize, n: usize, k: usize, dst: Mat, accumulate: bool, lhs: Mat, rhs: Mat, scale: f32) {
    // SAFETY: forwarded from the caller.
    unsafe { gemm_call(m, n, k, dst, accumulate, lhs, rhs, scale, Parallelism::None) }
}

/// A new row-major `m × n` buffer holding `lhs · rhs` (`lhs` `m × k`, `rhs` `k × n`), split over the thread pool when
/// large enough. The buffer is not zero-filled first: gemm writes every element of a destination it does not read.
///
/// # Safety
/// The two views must address live f32 buffers of the stated sizes.
pub(super) unsafe fn product(m: usize, n: usize, k: usize, lhs: Mat, rhs: Mat) -> Vec<f32> {
    let parallelism = if m * n * k >= PARALLEL_FLOPS && rayon::current_num_threads() > 1 {
        Parallelism::Rayon(0)
    } else {
        Parallelism::None
    };
    let mut out = Vec::with_capacity(m * n);
    if m * n <= 16 * 16 {
        // gemm's path for tiny outputs loads the destination (then ignores it): give it initialised values.
        out.resize(m * n, 0.0);
    }
    // SAFETY: `out` has room for `m × n` elements; with `accumulate = false` gemm stores each one without using the
    // old contents, so all are initialised when the length is set.
    unsafe {
        gemm_call(m, n, k, Mat::dense(out.as_mut_ptr(), n), false, lhs, rhs, 1.0, parallelism);
        out.set_len(m * n);
    }
    out
}

/// The one call into gemm: `dst = [dst +] scale · lhs · rhs`.
///
/// # Safety
/// As [`matmul`].
#[allow(clippy::too_many_arguments)]
unsafe fn gemm_call(
    m: usize,
    n: usize,
    k: usize,
    dst: Mat,
    accumulate: bool,
    lhs: Mat,
    rhs: Mat,
    scale: f32,
    parallelism: Parallelism,
) {
    // SAFETY: forwarded from the caller.
    unsafe {
        gemm(
            m,
            n,
            k,
            dst.ptr.cast_mut(),
            dst.col,
            dst.row,
            accumulate,
            lhs.ptr,
            lhs.col,
            lhs.row,
            rhs.ptr,
            rhs.col,
            rhs.row,
            1.0,
            scale,
            false,
            false,
            false,
            parallelism,
        );
    }
}
