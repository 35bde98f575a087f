import Model

extension Engine {
    /// Samples `r`'s next token from `row` (changed in place) and, when the request measures
    /// confidence, how sure the distribution it was drawn from was of it. Requests that do not
    /// measure pay nothing: no copy, no extra pass.
    func sampleMeasuring(_ r: Request, row: UnsafeMutableBufferPointer<Float>) -> (Int32, TokenConfidence?) {
        guard r.request.measureConfidence else { return (r.sampler.sample(row), nil) }
        if sampledRow.count != row.count { sampledRow = [Float](repeating: 0, count: row.count) }
        let token = sampledRow.withUnsafeMutableBufferPointer { r.sampler.sample(row, keepingAdjustedIn: $0) }
        let t = TokenConfidence.temperature(for: r.sampler.parameters)
        let measured = sampledRow.withUnsafeBufferPointer { TokenConfidence.measure($0, chosen: token, temperature: t) }
        return (token, measured)
    }
}
