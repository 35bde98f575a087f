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
        if sampledRow.count != row.count { sampledRow = [Float](repeating: 0, count: row.count) }
        let token = sampledRow.withUnsafeMutableBufferPointer { r.sampler.sample(row, keepingAdjustedIn: $0, position: position) }
        let t = TokenConfidence.temperature(for: r.sampler.parameters)
        let measured = sampledRow.withUnsafeBufferPointer { TokenConfidence.measure($0, chosen: token, temperature: t) }
        return (token, measured)
    }
}
