import Tokenizer

/// Whether a model may draft for another: its proposals are token ids the target verifies,
/// so both must mean the same thing by every id (and end generation alike). Checked at
/// start-up, so a wrong pairing is refused with the first difference named instead of
/// serving proposals that are never accepted.
public enum SpeculativeDraftCheck {
    /// The first way `draft`'s tokenizer differs from `target`'s, nil when they agree.
    public static func difference(target t: TokenizerVocabulary, draft d: TokenizerVocabulary) -> String? {
        if t.model != d.model { return "tokenizer model \(d.model) (the target's is \(t.model))" }
        if t.pre != d.pre { return "pre-tokenizer \(d.pre) (the target's is \(t.pre))" }
        if t.tokens.count != d.tokens.count {
            return "vocabulary of \(d.tokens.count) tokens (the target's has \(t.tokens.count))"
        }
        if let i = t.tokens.indices.first(where: { t.tokens[$0] != d.tokens[$0] }) {
            return "token \(i) is \(quoted(d.tokens[i])) (the target's is \(quoted(t.tokens[i])))"
        }
        if t.merges.count != d.merges.count { return "\(d.merges.count) merges (the target has \(t.merges.count))" }
        if let i = t.merges.indices.first(where: { t.merges[$0] != d.merges[$0] }) {
            return "merge \(i) is \(quoted(d.merges[i])) (the target's is \(quoted(t.merges[i])))"
        }
        if t.tokenTypes != d.tokenTypes { return "token types (control and special tokens) differ" }
        if t.bosID != d.bosID { return "BOS id \(describe(d.bosID)) (the target's is \(describe(t.bosID)))" }
        if t.eosID != d.eosID { return "EOS id \(describe(d.eosID)) (the target's is \(describe(t.eosID)))" }
        if Set(t.eotIDs) != Set(d.eotIDs) { return "end-of-turn ids \(d.eotIDs.sorted()) (the target's are \(t.eotIDs.sorted()))" }
        if t.addBOS != d.addBOS { return "add-BOS \(d.addBOS) (the target's is \(t.addBOS))" }
        return nil
    }

    private static func quoted(_ s: String) -> String { "\"\(s)\"" }
    private static func describe(_ id: Int32?) -> String { id.map(String.init) ?? "none" }
}
