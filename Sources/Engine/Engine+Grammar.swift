import Dispatch
import Grammar

/// Structured output in the engine: a constrained sequence's logits row is masked to the
/// tokens its grammar allows before sampling, and its grammar state takes each token.
/// Masks are cached per grammar state (TokenGrammar), so after the first requests with a
/// schema most steps find theirs; unconstrained sequences never pay anything.
extension Engine {
    /// Sets the logits of tokens the grammar refuses to -∞.
    func applyGrammar(_ r: Request, row: UnsafeMutableBufferPointer<Float>) {
        guard let m = r.matcher else { return }
        let t0 = DispatchTime.now().uptimeNanoseconds
        m.mask().apply(to: row, endOfGeneration: endOfGeneration)
        stats.grammarMaskSeconds += Double(DispatchTime.now().uptimeNanoseconds &- t0) / 1e9
        stats.grammarMasks += 1
    }

    /// Advances the grammar by `token`; true when the sequence must end here: the grammar is
    /// complete (nothing can follow), or it refused the token (only if its state was cut short
    /// by the matcher's bounds; the mask allows no such token otherwise).
    func grammarEnds(_ r: Request, after token: Int32) -> Bool {
        guard r.matcher != nil else { return false }
        guard r.matcher!.accept(token: token) else { return true }
        return r.matcher!.isComplete
    }
}
