import Engine
import Foundation
import HTTP

/// POST /infill: llama-server's code-infill endpoint, which editor plugins call (llama.vscode,
/// llama.vim): the code before and after the cursor and other files of the project as context,
/// the prompt built as llama-server builds it (`Tokenizer.repositoryInfill`), the answer as
/// llama-server's (`LlamaNativeAPI.swift`). POST /completion, its plain completion, is here too.
extension OpenAIAPI {
    func infill(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        try answerLlamaNative(try infillPlan(try Self.parseBody(request)), route: .infill, responder)
    }

    func llamaCompletion(_ request: HTTPRequest, _ responder: HTTPResponder) throws {
        try answerLlamaNative(try llamaCompletionPlan(try Self.parseBody(request)), route: .llamaCompletion, responder)
    }

    /// Reads and checks an /infill body and builds its prompt; throws the APIError a client gets.
    func infillPlan(_ json: JSON) throws -> LlamaNativePlan {
        let r = try FieldReader(json)
        let t = model.tokenizer
        guard t.fillInTheMiddleIDs != nil else {
            throw APIError.invalid("Infill is not supported by `\(model.id)`: it has no fill-in-the-middle tokens (Qwen2.5-Coder has).",
                                   code: "fim_not_supported")
        }
        guard let prefix = try r.string("input_prefix") else { throw APIError.invalid("`input_prefix` is required.", param: "input_prefix") }
        guard let suffix = try r.string("input_suffix") else { throw APIError.invalid("`input_suffix` is required.", param: "input_suffix") }
        let extra = try Self.infillExtra(r)
        let prompt = try r.string("prompt") ?? ""
        // Fields not read here are passed over, as llama-server passes them (its clients send its
        // whole sampler set, most at off values); those that would change the answer are refused.
        let options = try llamaNativeOptions(r)
        let room = min(service.contextLength, service.cacheCapacity)
        // llama-server's batch (2048, whatever the context).
        guard let ids = t.repositoryInfill(prefix: prefix, suffix: suffix, extra: extra, prompt: prompt,
                                           batch: 2048, context: room) else {
            throw APIError.invalid("Infill is not supported by `\(model.id)`.", code: "fim_not_supported")
        }
        return try llamaNativeRequest([ids], options, prefix: "infill-", logText: prefix + "<FIM>" + suffix)
    }

    /// Reads and checks a /completion body. `prompt` as llama-server reads it: a string (special-token
    /// text read as tokens, BOS where the vocabulary adds one), token ids, an array mixing both, or
    /// `{"prompt_string": ...}`; an array holding no token id is several prompts, each answered.
    func llamaCompletionPlan(_ json: JSON) throws -> LlamaNativePlan {
        let r = try FieldReader(json)
        let prompts: [[Int32]]
        switch r.raw("prompt") {
        case nil: throw APIError.invalid("`prompt` is required.", param: "prompt")
        case let .array(items)? where !items.contains(where: { if case .number = $0 { return true }; return false }):
            guard !items.isEmpty else { throw APIError.invalid("`prompt` must not be empty.", param: "prompt") }
            guard items.count <= limits.maxPrompts else {
                throw APIError.invalid("`prompt` can hold at most \(limits.maxPrompts) prompts.", param: "prompt")
            }
            prompts = try items.enumerated().map { try llamaPrompt($1, at: "prompt[\($0)]") }
        case let v?: prompts = [try llamaPrompt(v, at: "prompt")]
        }
        // Fields not read here are passed over, as llama-server passes them (its clients send its
        // whole sampler set, most at off values); those that would change the answer are refused.
        let options = try llamaNativeOptions(r)
        let t = model.tokenizer
        return try llamaNativeRequest(prompts, options, prefix: "cmpl-",
                                      logText: logPrompts ? prompts.map { t.decode($0) }.joined(separator: "\n") : "")
    }

    /// One llama-server prompt's tokens; `path` names it in errors.
    private func llamaPrompt(_ v: JSON, at path: String, inObject: Bool = false) throws -> [Int32] {
        let t = model.tokenizer
        let bad = APIError.invalid("`\(path)` must be a string, token ids, an array mixing both, or {\"prompt_string\": ...}.", param: path)
        var ids: [Int32] = []
        switch v {
        case let .string(s): ids = t.encode(s, addSpecial: true, parseSpecial: true)
        case let .array(items):
            // BOS goes before a first string only, as llama-server's `tokenize_mixed` puts it.
            for (k, item) in items.enumerated() {
                switch item {
                case let .string(s): ids += t.encode(s, addSpecial: k == 0, parseSpecial: true)
                case let .number(n, _) where n == n.rounded() && n >= 0 && n < Double(t.vocabularySize): ids.append(Int32(n))
                case .number: throw APIError.invalid("`\(path)[\(k)]` is not a token id of this model (0 to \(t.vocabularySize - 1)).", param: path)
                default: throw bad
                }
            }
        case let .object(fields) where !inObject:
            if fields.contains(where: { $0.0 == "multimodal_data" }) {
                throw APIError.invalid("`\(path).multimodal_data`: `\(model.id)` takes no images or audio.", param: "\(path).multimodal_data")
            }
            guard let inner = fields.first(where: { $0.0 == "prompt_string" })?.1 else { throw bad }
            return try llamaPrompt(inner, at: "\(path).prompt_string", inObject: true)
        default: throw bad
        }
        guard !ids.isEmpty else { throw APIError.invalid("`\(path)` must not be empty.", param: path) }
        return ids
    }

    /// `input_extra`: the project's other files, `{"filename", "text"}` each (a filename is optional).
    private static func infillExtra(_ r: FieldReader) throws -> [(filename: String, text: String)] {
        guard let v = r.raw("input_extra") else { return [] }
        guard case let .array(items) = v else {
            throw APIError.invalid("`input_extra` must be an array of {\"filename\": string, \"text\": string}.", param: "input_extra")
        }
        return try items.enumerated().map { i, item in
            let c = try FieldReader(item, parent: "input_extra[\(i)]")
            guard let text = try c.string("text") else { throw APIError.invalid("`input_extra[\(i)].text` is required.", param: "input_extra[\(i)].text") }
            // Other keys are the plugins' own (llama.vim and llama.vscode send `time`), unread as llama-server leaves them.
            return (try c.string("filename") ?? "tmp", text)
        }
    }
}
