import Kernels
import Model

extension Engine {
    /// Samples `r`'s next token from `row` (changed in place) and, when the request measures
    /// confidence, how sure the distribution it was drawn from was of it. Requests that do not
    /// measure pay nothing: no copy, no extra pass.
    func sampleMeasuring(_ r: Request, row: UnsafeMutableBufferPointer<Float>) -> (Int32, TokenConfidence?) {
        // A seeded draw is keyed to the token's position (Sampler+Keyed): speculation, batching
        // and preemption never change a seeded request's text.
        let position = keysSeededDraws ? r.tokens.count : nil
        guard r.request.measureConfidence else { return (r.sampler.sample(row, position: position), nil) }
        let p = r.sampler.parameters
        if p.picksArgmax {
            // An argmax pick leaves the adjusted row as it is: measured in place, from the pick's value
            // (the row's maximum), without the copy and the pass for the maximum.
            let token = r.sampler.sample(row, position: position)
            assert(!row[Int(token)].isFinite || row[Int(token)] == LogitStats.maximum(row.baseAddress!, row.count))
            let measured = TokenConfidence.measure(UnsafeBufferPointer(row), chosen: token,
                                                   temperature: TokenConfidence.temperature(for: p), maximum: row[Int(token)])
            return (token, measured)
        }
        if sampledRow.count != row.count { sampledRow = [Float](repeating: 0, count: row.count) }
        let token = sampledRow.withUnsafeMutableBufferPointer { r.sampler.sample(row, keepingAdjustedIn: $0, position: position) }
        let t = TokenConfidence.temperature(for: p)
        let measured = sampledRow.withUnsafeBufferPointer { TokenConfidence.measure($0, chosen: token, temperature: t) }
        return (token, measured)
    }
}
