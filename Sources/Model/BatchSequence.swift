/// The part of one sequence computed in a forward pass: `tokens` at positions
/// startPosition..<startPosition+tokens.count, whose keys and values go to the
/// cache blocks of `blockTable` (which must already cover those positions). When the
/// cache has a local pool for sliding-window layers, those layers use `localRing`
/// instead: logical block i lives in localRing[i % localRing.count], and the ring must
/// hold every block from the window start of `startPosition` to the last token.
public struct BatchSequence: Sendable {
    public enum Logits: Sendable, Equatable { case none, last, all }

    public var tokens: [Int32]
    public var startPosition: Int
    public var blockTable: [Int32]
    public var localRing: [Int32]
    public var logits: Logits
    /// LoRA adapters whose updates apply to this sequence's tokens; empty: the base model.
    public var adapters: [LoraSelection]
    /// Tokens this sequence's logits also score where the model scores only its first
    /// `LlamaModel.logitRows` (or its `scoredRows`): a draft model's sequence's own tokens, which
    /// a smaller vocabulary would miss; ignored when the model scores the whole vocabulary.
    public var alsoScored: [Int32] = []
    /// This sequence's logits score every token even where the model scores only its first
    /// `logitRows` (a draft writing a language whose tokens lie past them).
    public var scoresWholeVocabulary = false
    /// Where the model scores part of its vocabulary (`LlamaModel.logitRows` below its size), this
    /// sequence's logits score only its first `scoredRows` tokens and its `alsoScored` past them
    /// (a draft's common part, for a sequence that rarely leaves it); nil, more than
    /// `logitRows`, or a whole-vocabulary sequence: `logitRows`.
    public var scoredRows: Int?

    public init(tokens: [Int32], startPosition: Int, blockTable: [Int32], localRing: [Int32] = [], logits: Logits = .last,
                adapters: [LoraSelection] = []) {
        self.tokens = tokens
        self.startPosition = startPosition
        self.blockTable = blockTable
        self.localRing = localRing
        self.logits = logits
        self.adapters = adapters
    }

    /// The ring expanded to a block table over positions 0..<end, so the attention kernels
    /// read it like any other table (they never look at entries wholly before the window).
    func localTable(blockSize bs: Int, window: Int) -> [Int32] {
        let end = startPosition + tokens.count, blocks = (end + bs - 1) / bs
        let oldest = max(0, startPosition - window + 1) / bs  // first block any token of the run reads
        precondition(localRing.count >= min(blocks, blocks - oldest), "the local ring does not cover the window")
        let ring = localRing
        return (0..<blocks).map { ring[$0 % ring.count] }
    }

    var logitRows: Int {
        switch logits {
        case .none: return 0
        case .last: return tokens.isEmpty ? 0 : 1
        case .all: return tokens.count
        }
    }
}
