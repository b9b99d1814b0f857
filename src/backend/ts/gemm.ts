// Row-major GEMM in plain TypeScript: C = alpha * op(A) op(B) + beta * C.
// Operands are first brought to plain row-major form (A: M x K, B: K x N; transposed inputs are copied, which costs
// O(MK + KN) against the O(MNK) product), then a 4x4 register-blocked kernel keeps 16 accumulators in locals and
// reads 4 values of A and 4 of B per step of k, several times faster in V8 than a naive triple loop.

let packA = new Float32Array(0);
let packB = new Float32Array(0);

function transposeInto(src: Float32Array, rows: number, cols: number, dst: Float32Array): void {
  // src is rows x cols; dst becomes cols x rows.
  for (let r = 0; r < rows; r++) {
    const base = r * cols;
    for (let c = 0; c < cols; c++) dst[c * rows + r] = src[base + c]!;
  }
}

export function gemm(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, B: Float32Array, beta: number, C: Float32Array): void {
  const mn = M * N;
  if (beta === 0) C.fill(0, 0, mn);
  else if (beta !== 1) for (let i = 0; i < mn; i++) C[i]! *= beta;
  if (alpha === 0 || K === 0 || M === 0 || N === 0) return;
  if (M < 4) {
    smallM(transA, transB, M, N, K, alpha, A, B, C);
    return;
  }
  let a = A;
  let b = B;
  if (transA) {
    if (packA.length < M * K) packA = new Float32Array(M * K);
    transposeInto(A, K, M, packA);
    a = packA;
  }
  if (transB) {
    if (packB.length < K * N) packB = new Float32Array(K * N);
    transposeInto(B, N, K, packB);
    b = packB;
  }
  kernel(M, N, K, alpha, a, b, C);
}

function kernel(M: number, N: number, K: number, alpha: number, a: Float32Array, b: Float32Array, C: Float32Array): void {
  const M4 = M - (M % 4);
  const N4 = N - (N % 4);
  for (let i = 0; i < M4; i += 4) {
    const a0 = i * K, a1 = a0 + K, a2 = a1 + K, a3 = a2 + K;
    for (let j = 0; j < N4; j += 4) {
      let c00 = 0, c01 = 0, c02 = 0, c03 = 0;
      let c10 = 0, c11 = 0, c12 = 0, c13 = 0;
      let c20 = 0, c21 = 0, c22 = 0, c23 = 0;
      let c30 = 0, c31 = 0, c32 = 0, c33 = 0;
      let bk = j;
      for (let k = 0; k < K; k++, bk += N) {
        const b0 = b[bk]!, b1 = b[bk + 1]!, b2 = b[bk + 2]!, b3 = b[bk + 3]!;
        const x0 = a[a0 + k]!, x1 = a[a1 + k]!, x2 = a[a2 + k]!, x3 = a[a3 + k]!;
        c00 += x0 * b0; c01 += x0 * b1; c02 += x0 * b2; c03 += x0 * b3;
        c10 += x1 * b0; c11 += x1 * b1; c12 += x1 * b2; c13 += x1 * b3;
        c20 += x2 * b0; c21 += x2 * b1; c22 += x2 * b2; c23 += x2 * b3;
        c30 += x3 * b0; c31 += x3 * b1; c32 += x3 * b2; c33 += x3 * b3;
      }
      let c = i * N + j;
      C[c]! += alpha * c00; C[c + 1]! += alpha * c01; C[c + 2]! += alpha * c02; C[c + 3]! += alpha * c03;
      c += N;
      C[c]! += alpha * c10; C[c + 1]! += alpha * c11; C[c + 2]! += alpha * c12; C[c + 3]! += alpha * c13;
      c += N;
      C[c]! += alpha * c20; C[c + 1]! += alpha * c21; C[c + 2]! += alpha * c22; C[c + 3]! += alpha * c23;
      c += N;
      C[c]! += alpha * c30; C[c + 1]! += alpha * c31; C[c + 2]! += alpha * c32; C[c + 3]! += alpha * c33;
    }
    for (let j = N4; j < N; j++) edge(i, i + 4, j, N, K, alpha, a, b, C);
  }
  for (let i = M4; i < M; i++) for (let j = 0; j < N; j++) edge(i, i + 1, j, N, K, alpha, a, b, C);
}

function edge(i0: number, i1: number, j: number, N: number, K: number, alpha: number, a: Float32Array, b: Float32Array, C: Float32Array): void {
  for (let i = i0; i < i1; i++) {
    let s = 0;
    const ar = i * K;
    for (let k = 0, bk = j; k < K; k++, bk += N) s += a[ar + k]! * b[bk]!;
    C[i * N + j]! += alpha * s;
  }
}

// Few rows (e.g. a fully connected layer at batch 1): packing would cost as much as the product, so work directly on
// rows: dot products against rows of B when B is stored transposed, scaled row sums of B otherwise.
function smallM(transA: boolean, transB: boolean, M: number, N: number, K: number, alpha: number,
  A: Float32Array, B: Float32Array, C: Float32Array): void {
  const aAt = (i: number, k: number) => (transA ? A[k * M + i]! : A[i * K + k]!);
  for (let i = 0; i < M; i++) {
    const cRow = i * N;
    if (transB) {
      for (let j = 0; j < N; j++) {
        const bRow = j * K;
        let s = 0;
        if (transA) for (let k = 0; k < K; k++) s += A[k * M + i]! * B[bRow + k]!;
        else for (let k = 0, ar = i * K; k < K; k++) s += A[ar + k]! * B[bRow + k]!;
        C[cRow + j]! += alpha * s;
      }
    } else {
      for (let k = 0; k < K; k++) {
        const a = alpha * aAt(i, k);
        if (a === 0) continue;
        const bRow = k * N;
        for (let j = 0; j < N; j++) C[cRow + j]! += a * B[bRow + j]!;
      }
    }
  }
}
