import XCTest
import Kernels
@testable import Model

/// A draft's common part (`BatchSequence.scoredRows`): a sequence scores only the output's first
/// rows and its own tokens past them, whatever its neighbours in the batch score.
final class DraftCommonRowsTests: XCTestCase {
    let prompts: [[Int32]] = [[1, 5, 9, 2, 7], [3, 8, 4]]

    func sequences(_ which: [Int], rows: Int?, own: [[Int32]]) -> [BatchSequence] {
        which.map { i in
            var s = BatchSequence(tokens: prompts[i], startPosition: 0, blockTable: i == 0 ? [0, 1] : [2, 3])
            s.alsoScored = own[i]
            if i == 0 { s.scoredRows = rows }
            return s
        }
    }

    func cache(_ m: LoadedModel) -> KVCacheStorage { m.model.makeCacheStorage(tokens: 16, blockSize: 4, type: .f32) }

    /// Both paths of a partial vocabulary: the file's rows (float activations) and a shrunk draft's
    /// Q4_0 copy. Sequence 0 scores its first `k` tokens (not a whole tile: the part is computed in
    /// whole tiles and cut per row) and its own tokens past them, from the file's rows, as a model
    /// whose `logitRows` were `k`; sequence 1, beside it, keeps the model's `logitRows`; each row
    /// is the same alone as in the batch.
    func testACommonPartScoresItsFirstRowsAndItsOwnTokensPerSequence() throws {
        let path = TinyModelTests.fixtureURL("qwen2.tiny.gguf").path
        let whole = try LoadedModel(path: path, threads: 2)
        let v = whole.config.vocabSize, n = v / 2, k = n / 2 + 3
        XCTAssertNotEqual(k % 16, 0)
        let own: [[Int32]] = [[Int32(k + 1), Int32(n - 1), 2, Int32(n + 4)], [Int32(k + 1), Int32(n + 9)]]
        for shrink in [false, true] {
            let part = try LoadedModel(path: path, threads: 2, logitRows: n, shrink: shrink)
            let narrow = try LoadedModel(path: path, threads: 2, logitRows: k, shrink: shrink)
            let expected = try narrow.model.forward(sequences([0], rows: nil, own: own), cache: cache(narrow))
            let wide = try part.model.forward(sequences([0, 1], rows: nil, own: own), cache: cache(part))
            let b = try part.model.forward(sequences([0, 1], rows: k, own: own), cache: cache(part))
            let alone = try part.model.forward(sequences([0], rows: k, own: own), cache: cache(part))
            XCTAssertEqual(b.count, 2 * v)
            XCTAssertEqual(Array(b[0..<v]), alone, "shrink \(shrink): the narrow row alone")
            XCTAssertEqual(Array(b[0..<v]), expected, "shrink \(shrink): as a model scoring its first k")
            XCTAssertEqual(Array(b[v..<(2 * v)]), Array(wide[v..<(2 * v)]), "shrink \(shrink): the neighbour's row unchanged")
            for t in 0..<v {
                if t < k {
                    XCTAssertEqual(b[t], wide[t], "shrink \(shrink): token \(t) from the part")
                } else if own[0].contains(Int32(t)) {
                    XCTAssertTrue(b[t].isFinite, "shrink \(shrink): own token \(t)")
                } else {
                    XCTAssertEqual(b[t], -.infinity, "shrink \(shrink): token \(t)")
                }
            }
            // More rows than the part's, or a whole-vocabulary sequence: the model's part.
            let more = try part.model.forward(sequences([0], rows: n + 16, own: own), cache: cache(part))
            XCTAssertEqual(more, Array(wide[0..<v]), "shrink \(shrink)")
            var all = sequences([0], rows: k, own: own)
            all[0].scoresWholeVocabulary = true
            let everything = try part.model.forward(all, cache: cache(part))
            XCTAssertTrue(everything.allSatisfy(\.isFinite), "shrink \(shrink)")
            XCTAssertEqual(Array(everything[0..<k]), Array(wide[0..<k]), "shrink \(shrink)")
        }
    }
}
