/// The part of one sequence computed in a forward pass: `tokens` at positions
/// startPosition..<startPosition+tokens.count, whose keys and values go to the
/// cache blocks of `blockTable` (which must already cover those positions).
public struct BatchSequence: Sendable {
    public enum Logits: Sendable, Equatable { case none, last, all }

    public var tokens: [Int32]
    public var startPosition: Int
    public var blockTable: [Int32]
    public var logits: Logits

    public init(tokens: [Int32], startPosition: Int, blockTable: [Int32], logits: Logits = .last) {
        self.tokens = tokens
        self.startPosition = startPosition
        self.blockTable = blockTable
        self.logits = logits
    }

    var logitRows: Int {
        switch logits {
        case .none: return 0
        case .last: return tokens.isEmpty ? 0 : 1
        case .all: return tokens.count
        }
    }
}
