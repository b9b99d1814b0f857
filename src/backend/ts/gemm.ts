// Row-major GEMM in plain TypeScript: C = alpha * op(A) op(B) + beta * C. The inner loops run along contiguous rows
// (i-k-j order) so V8 can keep them tight; B^T products use row dot products instead.

export function gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, B: Float32Array, beta: number, C: Float32Array): void {
  const mn = M * N;
  if (beta === 0) C.fill(0, 0, mn);
  else if (beta !== 1) for (let i = 0; i < mn; i++) C[i]! *= beta;
  if (alpha === 0 || K === 0) return;
  if (!transB) {
    // B is K x N: accumulate rows of B scaled by A's entries.
    for (let i = 0; i < M; i++) {
      const cRow = i * N;
      for (let k = 0; k < K; k++) {
        const a = alpha * (transA ? A[k * M + i]! : A[i * K + k]!);
        if (a === 0) continue;
        const bRow = k * N;
        for (let j = 0; j < N; j++) C[cRow + j]! += a * B[bRow + j]!;
      }
    }
  } else {
    // B stored N x K: C[i][j] = dot(A row i, B row j).
    if (transA) {
      // A stored K x M: gather column i once.
      const col = new Float32Array(K);
      for (let i = 0; i < M; i++) {
        for (let k = 0; k < K; k++) col[k] = A[k * M + i]!;
        const cRow = i * N;
        for (let j = 0; j < N; j++) {
          const bRow = j * K;
          let s = 0;
          for (let k = 0; k < K; k++) s += col[k]! * B[bRow + k]!;
          C[cRow + j]! += alpha * s;
        }
      }
    } else {
      for (let i = 0; i < M; i++) {
        const aRow = i * K;
        const cRow = i * N;
        for (let j = 0; j < N; j++) {
          const bRow = j * K;
          let s = 0;
          for (let k = 0; k < K; k++) s += A[aRow + k]! * B[bRow + k]!;
          C[cRow + j]! += alpha * s;
        }
      }
    }
  }
}
