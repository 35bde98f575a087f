/// How the next token is chosen. Temperature 0 means greedy (argmax).
public struct SamplingParameters: Sendable, Equatable {
    public var temperature: Float = 1
    public var topK: Int = 0                 // 0: off
    public var topP: Float = 1               // 1: off
    public var minP: Float = 0               // 0: off
    public var repetitionPenalty: Float = 1  // 1: off; over prompt and output (HF/vLLM)
    public var presencePenalty: Float = 0    // over output tokens (OpenAI)
    public var frequencyPenalty: Float = 0   // over output tokens (OpenAI)
    public var logitBias: [Int32: Float] = [:]
    public var seed: UInt64? = nil

    public init(temperature: Float = 1, topK: Int = 0, topP: Float = 1, minP: Float = 0,
                repetitionPenalty: Float = 1, presencePenalty: Float = 0, frequencyPenalty: Float = 0,
                logitBias: [Int32: Float] = [:], seed: UInt64? = nil) {
        self.temperature = temperature
        self.topK = topK
        self.topP = topP
        self.minP = minP
        self.repetitionPenalty = repetitionPenalty
        self.presencePenalty = presencePenalty
        self.frequencyPenalty = frequencyPenalty
        self.logitBias = logitBias
        self.seed = seed
    }

    public static let greedy = SamplingParameters(temperature: 0)
    public var isGreedy: Bool { temperature <= 0 }
    /// The draw is the row's argmax (greedy, or top_k 1 at any temperature): `Sampler.sample` then
    /// leaves the row as `adjust` made it, which the engine's in-place confidence relies on.
    public var picksArgmax: Bool { isGreedy || topK == 1 }
}
