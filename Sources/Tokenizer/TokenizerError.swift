/// A vocabulary that cannot be used. Thrown by `Tokenizer.init`; never by encode/decode,
/// which accept any text or bytes.
public enum TokenizerError: Error, Equatable, Sendable {
    case unsupportedModel(String)
    case emptyVocabulary
    case countMismatch(field: String, expected: Int, actual: Int)
    case specialIDOutOfRange(name: String, id: Int32)
    case malformedMerge(index: Int, text: String)
    case mergeNamesUnknownToken(index: Int, token: String)
    case tooManyTokens(Int)
}
