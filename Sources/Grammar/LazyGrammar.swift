/// Where a lazy grammar starts holding: the text is free until one of the triggers' markers
/// appears; the grammar, which begins with every marker, then takes the text from the marker on.
/// A tool call under `tool_choice: "auto"` is kept to its schema this way while the prose
/// around it stays the model's (llama-server's lazy grammars do the same).
public struct LazyGrammar: Sendable, Equatable {
    public struct Trigger: Sendable, Equatable {
        /// The bytes that open a match (the grammar accepts them first).
        public var marker: [UInt8]
        /// Only where nothing but whitespace came before (since the start, or since a whole match).
        public var atStart: Bool
        /// Empty: the grammar holds from the marker. Else the text after the marker stays free
        /// until one of these has been written inside the grammar (a Markdown fence opens code
        /// as well as calls: only a call's `"arguments"` or `"parameters"` key says it is one); a
        /// text the grammar refuses before then was not a match, and the search goes on.
        public var commitAfter: [[UInt8]]

        public init(marker: String, atStart: Bool = false, commitAfter: String...) {
            self.marker = Array(marker.utf8)
            self.atStart = atStart
            self.commitAfter = commitAfter.map { Array($0.utf8) }
        }
    }

    public var triggers: [Trigger]
    /// After each whole match the text is free again (several calls, prose between them);
    /// false: the answer ends with the first match.
    public var rearm: Bool

    public init(triggers: [Trigger], rearm: Bool) {
        self.triggers = triggers
        self.rearm = rearm
    }

    /// The earliest trigger in `text` that may open there: its index and where its marker starts.
    /// `sawText`: something other than whitespace came before `text`.
    func firstMatch(in text: ArraySlice<UInt8>, sawText: Bool) -> (trigger: Int, start: Int)? {
        var best: (Int, Int)?
        for (k, t) in triggers.enumerated() {
            guard let r = text.firstRange(of: t.marker) else { continue }
            if t.atStart && (sawText || !text[..<r.lowerBound].allSatisfy(Self.isSpace)) { continue }
            if best == nil || r.lowerBound < best!.1 { best = (k, r.lowerBound) }
        }
        return best
    }

    /// Bytes of a text to keep while waiting: enough to find a marker that began in them.
    var keep: Int { max(0, (triggers.map(\.marker.count).max() ?? 1) - 1) }

    static func isSpace(_ b: UInt8) -> Bool { b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09 }
}
