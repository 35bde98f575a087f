import Engine

/// What the API needs of the engine; handlers can be tested with a fake.
public protocol InferenceService: AnyObject, Sendable {
    func submit(_ request: GenerationRequest, sink: @escaping GenerationSink) throws
    func abort(_ id: String)
    var contextLength: Int { get }
    var cacheCapacity: Int { get }
}

extension Engine: InferenceService {}
