import Engine
import Foundation
import Model
import Tokenizer

/// Speculative decoding from the configuration: the method, its limits, and the draft model
/// when there is one (loaded with the target's threads, refused when its tokenizer differs).
extension ServerApp {
    struct Speculation {
        var configuration: SpeculationConfiguration
        var draft: LoadedModel?
        /// A setting that cannot take effect, for a warning at start-up.
        var note: String?
        var summary: String {
            switch configuration.method {
            case .off: return "off"
            case .ngram: return "prompt lookup (n-gram), depth \(configuration.maxDepth)"
            case .draft:
                let common = configuration.draftCommonRows
                let vocabulary = draft.map { d in d.model.logitRows < d.config.vocabSize
                    ? ", proposing among its first \(common > 0 && common < d.model.logitRows ? "\(common) or " : "")\(d.model.logitRows) tokens and each sequence's own" : "" } ?? ""
                let q4 = draft?.shrunk == true ? ", its wider matrices read as Q4_0" : ""
                let p = configuration.draftMinProbability
                let unsure = p > 0 ? ", stopping after a greedy guess below probability \(p)" : ""
                let name = draft?.name ?? "?"
                return "draft model \(name)\(q4), depth \(configuration.maxDepth)\(vocabulary)\(unsure)"
            }
        }
    }

    /// `allowDraft`: false for every generation model but the first (a draft model drafts for one).
    static func speculation(_ c: JetonConfig, target: LoadedModel, threads: Int, allowDraft: Bool = true) throws -> Speculation {
        let draftName = allowDraft ? c[\.speculativeDraftModel] : ""
        var method = SpeculationConfiguration.Method(rawValue: c[\.speculativeMethod]) ?? .off
        // A draft model asks for draft speculation unless a method was named (`none` too: it wins).
        let named = c.isSet(\.speculativeMethod)
        var note: String?
        if !draftName.isEmpty && method != .draft {
            if named {
                note = "speculative.draft_model \(draftName) is not used: speculative.method is \(c[\.speculativeMethod]) (method draft uses the draft model and prompt lookup both)"
            } else {
                method = .draft
            }
        }
        if !allowDraft && method == .draft { method = .off }
        // Settings under which nothing would ever be proposed: off, and said so.
        let maxBatch = c[\.speculativeMaxBatchTokens]
        if method != .off && target.config.slidingWindow != nil {
            note = "\(target.name) has sliding-window layers, which do not speculate: speculative decoding is off"
            method = .off
        } else if method != .off && maxBatch <= 1 {
            note = "speculative.max_batch_tokens \(maxBatch) leaves no room for a proposal: speculative decoding is off"
            method = .off
        }
        var s = SpeculationConfiguration(method: method, maxDepth: c[\.speculativeMaxDepth], maxBatchTokens: maxBatch)
        s.draftMinProbability = c[\.speculativeDraftMinProbability]
        guard method == .draft else { return Speculation(configuration: s, draft: nil, note: note) }
        guard !draftName.isEmpty else {
            throw JetonConfig.Failure(description: "speculative.method draft needs speculative.draft_model (--draft-model NAME)")
        }
        let path = try ModelStore().resolve(draftName)
        let vocabulary = c[\.speculativeDraftVocabulary]
        // Preflight has refused an embedding model or another tokenizer from the files' headers.
        let draft = try LoadedModel(path: path, threads: threads, logitRows: vocabulary > 0 ? vocabulary : nil,
                                    shrink: c[\.speculativeDraftQuantization] == "q4_0")
        let tv = try TokenizerVocabulary(metadata: target.file.metadata)
        let dv = try TokenizerVocabulary(metadata: draft.file.metadata)
        if let d = SpeculativeDraftCheck.difference(target: tv, draft: dv) {
            throw JetonConfig.Failure(description: "draft model \(draft.name) cannot draft for \(target.name): its tokenizer differs: \(d)")
        }
        guard draft.config.vocabSize == target.config.vocabSize else {
            throw JetonConfig.Failure(description: "draft model \(draft.name) has \(draft.config.vocabSize) logits per token, \(target.name) \(target.config.vocabSize)")
        }
        draft.file.adviseWillNeed()
        let common = c[\.speculativeDraftCommonVocabulary]
        if draft.model.logitRows < draft.config.vocabSize {
            let t = target.tokenizer
            s.draftCommonRows = common < draft.model.logitRows ? common : 0
            let low = s.draftCommonRows > 0 ? s.draftCommonRows : draft.model.logitRows
            s.draftAlwaysScored = Set((low..<draft.config.vocabSize).lazy.map(Int32.init).filter(t.isSpecial))
        }
        // A common part asked for that cannot take effect: said, as other such settings are.
        if common > 0 && s.draftCommonRows == 0 && c.isSet(\.speculativeDraftCommonVocabulary) {
            note = "speculative.draft_common_vocabulary \(common) is not below speculative.draft_vocabulary "
                + "(\(draft.model.logitRows) of \(draft.config.vocabSize) tokens): the draft scores its first \(draft.model.logitRows) for every sequence"
        }
        s.method = .draft
        return Speculation(configuration: s, draft: draft, note: note)
    }
}
