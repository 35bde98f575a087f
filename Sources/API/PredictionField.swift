import Engine

/// OpenAI's Predicted Outputs on chat completions: `prediction: {"type": "content", "content": ...}`,
/// the text the answer is expected to repeat mostly as it is (a file to edit, a document to
/// reformat). The engine proposes its tokens as speculation, verified like any proposal, so the
/// answer is the same with or without it; the matching spans come several tokens a step.
extension OpenAIAPI {
    /// The prediction's tokens (answer text: control-token text stays text, so it never matches a
    /// control token the model writes), at most the context's length; empty when absent or empty.
    func predictionTokens(_ r: FieldReader) throws -> [Int32] {
        guard let v = r.raw("prediction") else { return [] }
        guard case .object = v else {
            throw APIError.invalid("`prediction` must be an object: {\"type\": \"content\", \"content\": \"...\"}.",
                                   param: "prediction")
        }
        let p = try FieldReader(v)
        guard let typeField = p.raw("type") else {
            throw APIError.invalid("`prediction.type` is required: \"content\".", param: "prediction.type")
        }
        guard case let .string(type) = typeField else {
            throw APIError.invalid("`prediction.type` must be the string \"content\".", param: "prediction.type")
        }
        guard type == "content" else {
            throw APIError.invalid("`prediction.type` must be \"content\", got \"\(type)\".", param: "prediction.type")
        }
        let text: String
        switch p.raw("content") {
        case let .string(s)?: text = s
        case let .array(parts)?:
            // Text parts, joined as they are: together they are the predicted answer.
            text = try parts.enumerated().map { j, part -> String in
                let pp = "prediction.content[\(j)]"
                let notText = APIError.invalid("`\(pp)` must be a text part ({\"type\": \"text\", \"text\": ...}).", param: pp)
                guard case .object = part else { throw notText }
                let pr = try FieldReader(part)
                guard pr.raw("type") == .string("text"), case let .string(t)? = pr.raw("text") else { throw notText }
                try pr.refuseUnknown(in: pp)
                return t
            }.joined()
        default:
            throw APIError.invalid("`prediction.content` is required and must be a string or an array of text parts.",
                                   param: "prediction.content")
        }
        try p.refuseUnknown(in: "prediction")
        // An answer fits the context: the prediction's first context-length tokens are kept, which
        // bounds the engine's index of it (an answer that skips past them is not predicted there).
        return Array(model.tokenizer.encode(text, addSpecial: false, parseSpecial: false).prefix(model.contextLength))
    }
}

/// OpenAI's `usage.completion_tokens_details`: `predicted` the prediction tokens in the answers
/// and those computed in vain (`GenerationJob.predictionUsage`), zeros without a prediction.
func completionDetails(predicted: (accepted: Int, rejected: Int)?) -> JSON {
    let p = predicted ?? (0, 0)
    return ["reasoning_tokens": 0, "audio_tokens": 0, "accepted_prediction_tokens": JSON(p.accepted),
            "rejected_prediction_tokens": JSON(p.rejected)]
}
