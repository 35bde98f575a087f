import Model

/// A request's state inside the engine: its tokens so far, how many of them are
/// in the cache, and the blocks that hold them.
final class Sequence {
    let request: GenerationRequest
    let sink: GenerationSink
    let arrival: Int
    var sampler: Sampler
    var tokens: [Int32]
    var computed = 0             // tokens whose keys/values are in the cache
    var blocks: [Int32] = []     // block table
    var hashes: [UInt64] = []    // prefix hashes of the leading full blocks, registered
    var generated = 0
    var cachedTokens = 0         // prompt tokens found in the prefix cache
    var promptLogprobs: [TokenLogprob?] = []
    var promptLogprobsSent = false
    var submittedAt: UInt64 = 0  // uptime nanoseconds
    var started = false          // scheduled at least once

    init(request: GenerationRequest, sink: @escaping GenerationSink, arrival: Int) {
        self.request = request
        self.sink = sink
        self.arrival = arrival
        tokens = request.promptTokens
        sampler = Sampler(request.sampling, promptTokens: request.promptTokens)
    }

    var promptCount: Int { request.promptTokens.count }
    var id: String { request.id }
    /// Still reading its original prompt for the first time (prompt logprobs wanted).
    var wantsPromptLogprobs: Bool { request.promptLogprobs != nil && !promptLogprobsSent }
}
