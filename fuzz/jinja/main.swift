// libFuzzer target for the Jinja parser and interpreter.
// Built by run.sh together with Sources/Jinja/*.swift as one module named Jinja, so the
// sources are fuzzed unchanged. Input: template source, a NUL byte, then one variable's
// value (JSON if it parses, else a string) that the template sees as `x` and as the
// content of a user message. Any thrown TemplateError is a pass; a trap, a sanitizer
// report or a hang is a bug.

/// Small budgets keep each input fast, so libFuzzer explores more of them.
let fuzzEnvironment: RenderEnvironment = {
    var env = RenderEnvironment()
    env.limits.maxOutputBytes = 64 << 10
    env.limits.maxLoopIterations = 10_000
    env.limits.maxSteps = 200_000
    env.limits.maxWorkBytes = 8 << 20
    return env
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzOneInput(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = UnsafeBufferPointer(start: data, count: size)
    let split = bytes.firstIndex(of: 0) ?? size
    let source = String(decoding: bytes[0..<split], as: UTF8.self)
    let rest = split < size ? String(decoding: bytes[(split + 1)...], as: UTF8.self) : ""
    let variable = (try? Value(json: rest)) ?? .string(rest)

    guard let template = try? Template(source) else { return 0 }
    let context: [String: Value] = [
        "x": variable,
        "messages": [["role": "system", "content": "sys"], ["role": "user", "content": Value.string(rest)],
                     ["role": "assistant", "content": variable]],
        "tools": [["type": "function", "function": ["name": "f", "parameters": ["type": "object"]]]],
        "add_generation_prompt": true,
        "bos_token": "<s>",
        "eos_token": "</s>",
    ]
    if let out = try? template.render(context, environment: fuzzEnvironment) {
        precondition(out.utf8.count <= fuzzEnvironment.limits.maxOutputBytes, "output over the limit")
    }
    return 0
}
