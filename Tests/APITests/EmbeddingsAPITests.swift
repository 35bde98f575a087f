import Foundation
import XCTest
import HTTP
import Tokenizer
@testable import API

/// POST /v1/embeddings request checks and response encoding without a model: a small
/// WordPiece vocabulary and a fake service. (Tests/api/test_embeddings.py drives the real one.)
final class EmbeddingsAPITests: XCTestCase {
    final class FakeService: EmbeddingService, @unchecked Sendable {
        let dimensions = 4
        let supportsMatryoshka: Bool
        init(matryoshka: Bool) { supportsMatryoshka = matryoshka }
        func embed(_ inputs: [[Int32]], cancelled: @escaping @Sendable () -> Bool,
                   completion: @escaping @Sendable (Result<[[Float]], Error>) -> Void) {
            completion(.success(inputs.map { _ in [0.5, 0.5, 0.5, 0.5] }))
        }
    }

    static let tokens = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "\u{2581}hello", "\u{2581}world", "s"]

    func api(matryoshka: Bool = true, context: Int = 8) throws -> EmbeddingsAPI {
        var v = TokenizerVocabulary(model: "bert", tokens: Self.tokens, tokenTypes: [3, 3, 3, 3, 1, 1, 1],
                                    bosID: 2, unknownID: 1, paddingID: 0, addBOS: true)
        v.separatorID = 3
        let model = ServedModel(id: "embed", aliases: ["e"], tokenizer: try Tokenizer(v), contextLength: context,
                                chatTemplate: nil, created: 0)
        return EmbeddingsAPI(service: FakeService(matryoshka: matryoshka), model: model)
    }

    func plan(_ api: EmbeddingsAPI, _ body: String) throws -> EmbeddingsAPI.Plan {
        guard let json = JSON.parse(Array(body.utf8)) else { throw APIError.invalid("bad test JSON") }
        return try api.plan(json)
    }

    func error(_ api: EmbeddingsAPI, _ body: String) -> APIError? {
        do { _ = try plan(api, body); return nil } catch { return error as? APIError }
    }

    func testInputForms() throws {
        let a = try api()
        XCTAssertEqual(try plan(a, #"{"model":"embed","input":"Hello worlds"}"#).inputs, [[2, 4, 5, 6, 3]])
        XCTAssertEqual(try plan(a, #"{"input":["hello","world"]}"#).inputs, [[2, 4, 3], [2, 5, 3]])
        XCTAssertEqual(try plan(a, #"{"input":[2,4,3]}"#).inputs, [[2, 4, 3]])
        XCTAssertEqual(try plan(a, #"{"model":"e","input":[[2,4,3],[5]]}"#).inputs, [[2, 4, 3], [5]])
        XCTAssertEqual(try plan(a, #"{"input":"hello"}"#).tokens, 3)
    }

    func testBadRequests() throws {
        let a = try api()
        XCTAssertEqual(error(a, #"{"model":"other","input":"x"}"#)?.status, 404)
        for body in [#"{"input":[]}"#, #"{"input":[[]]}"#, #"{"input":[7]}"#, #"{"input":[-1]}"#, #"{"input":{"a":1}}"#,
                     #"{"input":["a",[1.5]]}"#, #"{"input":"x","encoding_format":"int8"}"#, #"{"model":"embed"}"#,
                     #"{"input":"x","dimensions":0}"#, #"{"input":"x","dimensions":5}"#, #"{"input":"x","truncate":"yes"}"#] {
            let e = error(a, body)
            XCTAssertEqual(e?.status, 400, body)
        }
        // A model without Matryoshka training refuses a shorter `dimensions`, but accepts its own.
        let plain = try api(matryoshka: false)
        XCTAssertEqual(error(plain, #"{"input":"x","dimensions":2}"#)?.param, "dimensions")
        XCTAssertNil(error(plain, #"{"input":"x","dimensions":4}"#))
    }

    func testTooLongInputsNameTheirIndexOrAreTruncated() throws {
        let a = try api(context: 4)
        let e = error(a, #"{"input":["hello","hello hello hello"]}"#)
        XCTAssertEqual(e?.status, 400)
        XCTAssertEqual(e?.code, "context_length_exceeded")
        XCTAssertTrue(e?.message.contains("input[1] has 5 tokens") ?? false, e?.message ?? "")
        let cut = try plan(a, #"{"input":["hello","hello hello hello"],"truncate":true}"#)
        XCTAssertEqual(cut.inputs, [[2, 4, 3], [2, 4, 4, 3]])  // [SEP] kept last
    }

    /// A flat array of ids is one input however long (the context decides), not that many inputs;
    /// all inputs of a request together are capped in tokens.
    func testInputCountAndTotalTokenLimits() throws {
        var a = try api(context: 8)
        a.maxInputs = 3
        let flat = "[" + Array(repeating: "4", count: 6).joined(separator: ",") + "]"
        XCTAssertEqual(try plan(a, #"{"input":\#(flat)}"#).inputs, [Array(repeating: 4, count: 6)])
        let long = "[" + Array(repeating: "4", count: 9).joined(separator: ",") + "]"
        XCTAssertEqual(error(a, #"{"input":\#(long)}"#)?.code, "context_length_exceeded")
        XCTAssertEqual(error(a, #"{"input":["a","b","c","d"]}"#)?.param, "input")
        a.maxTotalTokens = 8
        XCTAssertNotNil(try? plan(a, #"{"input":["hello","hello"]}"#))  // 6 tokens
        let over = error(a, #"{"input":["hello","hello","hello"]}"#)  // 9 tokens
        XCTAssertEqual(over?.status, 400)
        XCTAssertEqual(over?.code, "max_tokens_per_request")
    }

    func testResponseEncodings() throws {
        let a = try api()
        let vectors: [[Float]] = [[0.5, -0.5, 0.5, -0.5], [1, 0, 0, 0]]
        func body(_ plan: EmbeddingsAPI.Plan) throws -> [String: Any] {
            let r = EmbeddingsAPI.response(vectors, plan: plan, model: "embed")
            return try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(r.body)) as? [String: Any])
        }
        var plan = try plan(a, #"{"input":["hello","world"]}"#)
        var json = try body(plan)
        let data = try XCTUnwrap(json["data"] as? [[String: Any]])
        XCTAssertEqual(data.count, 2)
        XCTAssertEqual(data[0]["embedding"] as? [Double], [0.5, -0.5, 0.5, -0.5])
        XCTAssertEqual((json["usage"] as? [String: Any])?["prompt_tokens"] as? Int, 6)
        // base64: little-endian float32 bytes.
        plan.base64 = true
        json = try body(plan)
        let b64 = try XCTUnwrap((json["data"] as? [[String: Any]])?[0]["embedding"] as? String)
        let bytes = try XCTUnwrap(Data(base64Encoded: b64))
        let floats = bytes.withUnsafeBytes { raw in (0..<4).map { Float(bitPattern: UInt32(littleEndian: raw.loadUnaligned(fromByteOffset: 4 * $0, as: UInt32.self))) } }
        XCTAssertEqual(floats, vectors[0])
        // dimensions: the first components, renormalized.
        plan.base64 = false
        plan.dimensions = 2
        json = try body(plan)
        let short = try XCTUnwrap((json["data"] as? [[String: Any]])?[0]["embedding"] as? [Double])
        XCTAssertEqual(short[0], 0.5.squareRoot(), accuracy: 1e-6)
        XCTAssertEqual(short[1], -(0.5.squareRoot()), accuracy: 1e-6)
    }
}
