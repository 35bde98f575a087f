import Engine

/// What the API needs of the engine; handlers can be tested with a fake.
public protocol InferenceService: AnyObject, Sendable {
    func submit(_ request: GenerationRequest, sink: @escaping GenerationSink) throws
    /// All of a request's generations or none: two large requests at once never each get part
    /// of the queue and both fail.
    func submitTogether(_ items: [(GenerationRequest, GenerationSink)]) throws
    func abort(_ id: String)
    /// Backpressure from a slow client: the request keeps its state but stops being computed.
    func pause(_ id: String)
    func resume(_ id: String)
    var contextLength: Int { get }
    var cacheCapacity: Int { get }
    /// Requests admitted at most at once, on an idle engine (the queue's bound beyond the
    /// sequences free to start them): one that makes more generations is never admitted.
    var maxWaiting: Int { get }
}

extension InferenceService {
    /// One by one (a fake's way): the first refusal stops, the ones before it stay submitted.
    public func submitTogether(_ items: [(GenerationRequest, GenerationSink)]) throws {
        for (request, sink) in items { try submit(request, sink: sink) }
    }
}

extension Engine: InferenceService {
    public var maxWaiting: Int { configuration.maxWaiting + configuration.maxSequences }
}
