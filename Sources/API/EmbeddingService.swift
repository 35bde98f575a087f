/// What the embeddings endpoint needs of the process that runs an embedding model;
/// handlers can be tested with a fake. `embed` answers later, on any thread.
public protocol EmbeddingService: AnyObject, Sendable {
    /// Components of each vector the model makes.
    var dimensions: Int { get }
    /// Trained so that a prefix of a vector, renormalized, is a good embedding too
    /// (Matryoshka representation learning: nomic-embed-text-v1.5), so `dimensions` may cut it.
    var supportsMatryoshka: Bool { get }
    /// One unit vector per input (token ids, special tokens included, each within the context).
    /// `cancelled` is asked between passes: once it says the client is gone, the rest is not computed.
    func embed(_ inputs: [[Int32]], cancelled: @escaping @Sendable () -> Bool,
               completion: @escaping @Sendable (Result<[[Float]], Error>) -> Void)
}

/// The embedding queue is full: the request is refused with 429 rather than queued without bound.
public struct EmbeddingQueueFull: Error, CustomStringConvertible {
    public let waiting: Int
    public init(waiting: Int) { self.waiting = waiting }
    public var description: String { "\(waiting) embedding requests are already waiting; retry shortly" }
}
