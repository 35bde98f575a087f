/// y = x · Wᵀ for a batch of tokens: x is [nTokens, cols], y is [nTokens, rows].
/// Float path: each thread dequantizes a tile of weight rows once and reuses it
/// for every token, so weights are read once per call whatever the batch size.
public enum MatMul {
    static let tileRows = 16

    public static func multiply(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int,
                                _ y: UnsafeMutablePointer<Float>, pool: ThreadPool) {
        let cols = w.cols, rows = w.rows
        let tiles = (rows + tileRows - 1) / tileRows
        pool.parallelFor(tiles) { range in
            let tile = UnsafeMutablePointer<Float>.allocate(capacity: tileRows * cols)  // [tileRows, cols]
            defer { tile.deallocate() }
            for t in range {
                let r0 = t * tileRows, r1 = min(rows, r0 + tileRows)
                for r in r0..<r1 { w.dequantizeRow(r, into: tile + (r - r0) * cols) }
                for tok in 0..<nTokens {
                    let xt = x + tok * cols
                    let yt = y + tok * rows
                    for r in r0..<r1 {
                        yt[r] = VectorOps.dot(tile + (r - r0) * cols, xt, cols)
                    }
                }
            }
        }
    }

    /// Plain reference: dequantize a row, dot in Double. The oracle for fast paths.
    public static func reference(_ w: WeightMatrix, _ x: UnsafePointer<Float>, nTokens: Int, _ y: UnsafeMutablePointer<Float>) {
        let row = UnsafeMutablePointer<Float>.allocate(capacity: w.cols)
        defer { row.deallocate() }
        for r in 0..<w.rows {
            w.dequantizeRow(r, into: row)
            for tok in 0..<nTokens {
                var s = 0.0
                for c in 0..<w.cols { s += Double(row[c]) * Double(x[tok * w.cols + c]) }
                y[tok * w.rows + r] = Float(s)
            }
        }
    }
}
