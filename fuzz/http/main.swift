// libFuzzer target for HTTPRequestParser, compiled together with the parser sources as one
// module (see run.sh). Besides "no crash, no hang", it checks two properties:
//  - every event stays inside the buffer it was given, and errors are sticky;
//  - the outcome does not depend on how the input is split across reads (a differential
//    check between feeding all at once and feeding in small pieces).

struct FuzzOutcome: Equatable {
    var heads: [String] = []
    var bodies: [[UInt8]] = []
    var trailerCounts: [Int] = []
    var error: Int?
}

func fuzzLimits() -> HTTPParserLimits {
    // Small limits so the fuzzer reaches the limit paths with short inputs.
    var limits = HTTPParserLimits()
    limits.maxRequestLineLength = 64
    limits.maxHeaderBytes = 256
    limits.maxHeaderCount = 8
    limits.maxBodyBytes = 512
    limits.maxChunkLineLength = 32
    return limits
}

func feed(_ input: UnsafeRawBufferPointer, step: Int) -> FuzzOutcome {
    var parser = HTTPRequestParser(limits: fuzzLimits())
    var outcome = FuzzOutcome()
    var pending: [UInt8] = []
    var fed = 0
    var body: [UInt8] = []
    var iterations = 0
    while true {
        if fed < input.count {
            let n = min(step, input.count - fed)
            pending.append(contentsOf: input[fed..<(fed + n)])
            fed += n
        }
        while true {
            iterations += 1
            precondition(iterations < 1_000_000, "parser does not make progress")
            let (consumed, event) = pending.withUnsafeBytes { parser.parse($0) }
            precondition(consumed >= 0 && consumed <= pending.count, "consumed out of range")
            switch event {
            case nil:
                precondition(consumed == pending.count, "needs more input but left bytes unconsumed")
            case .head(let head)?:
                outcome.heads.append("\(head.method) \(head.target) \(head.version) \(head.framing) \(head.keepAlive)")
                body = []
            case .body(let range)?:
                precondition(range.lowerBound >= 0 && range.upperBound <= consumed && !range.isEmpty, "body range outside input")
                body.append(contentsOf: pending[range])
            case .end(let trailers)?:
                outcome.bodies.append(body)
                outcome.trailerCounts.append(trailers.count)
            case .error(let error)?:
                let (again, second) = pending.withUnsafeBytes { parser.parse($0) }
                precondition(again == 0 && second == event, "errors are sticky")
                outcome.error = error.status.code
                return outcome
            }
            pending.removeFirst(consumed)
            if event == nil { break }
        }
        if fed >= input.count { return outcome }
    }
}

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzParser(_ data: UnsafePointer<UInt8>, _ size: Int) -> Int32 {
    let input = UnsafeRawBufferPointer(start: data, count: size)
    let whole = feed(input, step: max(1, size))
    let step = size > 0 ? Int(input[0] % 7) + 1 : 1
    let pieces = feed(input, step: step)
    precondition(whole == pieces, "outcome depends on read boundaries: \(whole) vs \(pieces)")
    return 0
}
