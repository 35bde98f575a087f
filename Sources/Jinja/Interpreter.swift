/// Walks the syntax tree for one render. Holds all mutable render state (scopes,
/// namespaces, output buffers, budgets), so `Template` itself stays an immutable value.
final class Interpreter {
    enum Flow { case normal, breakLoop, continueLoop }

    let environment: RenderEnvironment
    var limits: RenderLimits { environment.limits }

    /// Scope chain: [0] the caller's context, [1] template top level, then loop
    /// iterations and macro calls. Lookups go from the last frame down.
    var frames: [[String: Value]]
    /// Storage behind `.handle(.namespace)`: namespaces are shared, mutable objects in Jinja.
    var namespaces: [OrderedObject] = []
    var macros: [MacroDefinition] = []
    /// Storage behind `.handle(.loop)`: one entry per executed `for`, so `loop.*`
    /// is computed on access instead of building a dict every iteration.
    var loopStates: [(index: Int, items: [Value])] = []
    /// Scopes captured by `{% call %}` bodies (macro id -> frames), so `caller()` sees the
    /// variables around the call block, as in Jinja.
    var closures: [Int: [[String: Value]]] = [:]
    /// Output is captured per buffer (top level, macro bodies, block sets).
    var buffers: [String] = [""]

    var steps = 0
    var iterations = 0
    var workBytes = 0
    var evalDepth = 0
    var callDepth = 0

    static let builtinNames: Set<String> = ["range", "namespace", "dict", "raise_exception", "strftime_now", "joiner", "cycler", "lipsum"]

    init(context: [String: Value], environment: RenderEnvironment) {
        self.environment = environment
        self.frames = [context, [:]]
    }

    func render(_ nodes: [Node]) throws -> String {
        let flow = try exec(nodes)
        guard flow == .normal else { throw TemplateError.runtime("'break' or 'continue' outside of a loop") }
        return buffers[0]
    }

    // MARK: Budgets

    func tick(_ n: Int = 1) throws {
        steps += n
        if steps > limits.maxSteps { throw TemplateError.limit("template exceeded \(limits.maxSteps) evaluation steps") }
    }

    /// Every string the template builds goes through here: bounded size, and the sum of
    /// all sizes is bounded too (quadratic concatenation loops stop early).
    func produced(_ s: String) throws -> Value {
        try chargeBytes(s.utf8.count)
        return .string(s)
    }

    func chargeBytes(_ n: Int) throws {
        if n > limits.maxOutputBytes { throw TemplateError.limit("string of \(n) bytes exceeds the \(limits.maxOutputBytes)-byte limit") }
        workBytes += n
        if workBytes > limits.maxWorkBytes { throw TemplateError.limit("template built more than \(limits.maxWorkBytes) bytes of strings") }
    }

    /// Checks a collection about to be built with `count` elements.
    func checkCount(_ count: Int) throws {
        if count > limits.maxOutputBytes { throw TemplateError.limit("list of \(count) items is too large") }
        try tick(count)
    }

    /// Values nest only when a container literal (or filter) wraps existing values;
    /// bounding that keeps printing, comparing and even freeing them off deep recursion.
    func checkNesting(_ elements: [Value]) throws {
        for e in elements where try depth(of: e, limit: limits.maxValueDepth) >= limits.maxValueDepth {
            throw TemplateError.limit("value nesting deeper than \(limits.maxValueDepth)")
        }
    }

    private func depth(of v: Value, limit: Int) throws -> Int {
        guard limit > 0 else { return 0 }
        switch v {
        case .array(let a):
            try tick(a.count)
            var d = 0
            for e in a { d = max(d, try depth(of: e, limit: limit - 1)); if d + 1 >= limit { break } }
            return d + 1
        case .object(let o):
            try tick(o.count)
            var d = 0
            for e in o.values { d = max(d, try depth(of: e, limit: limit - 1)); if d + 1 >= limit { break } }
            return d + 1
        default:
            return 0
        }
    }

    // MARK: Output

    func write(_ s: String) throws {
        let i = buffers.count - 1
        let total = buffers[i].utf8.count + s.utf8.count
        if total > limits.maxOutputBytes { throw TemplateError.limit("output exceeds \(limits.maxOutputBytes) bytes") }
        try chargeBytes(s.utf8.count)
        buffers[i] += s
    }

    /// Runs `body` with output going to a fresh buffer, and returns what it wrote.
    func capture(_ body: () throws -> Flow) throws -> (String, Flow) {
        buffers.append("")
        defer { buffers.removeLast() }
        let flow = try body()
        return (buffers[buffers.count - 1], flow)
    }

    // MARK: Scopes

    func lookup(_ name: String) -> Value {
        for frame in frames.reversed() {
            if let v = frame[name] { return v }
        }
        if Interpreter.builtinNames.contains(name) { return .handle(.init(kind: .builtin(name), id: 0)) }
        return .undefined
    }

    func assign(_ name: String, _ value: Value) {
        frames[frames.count - 1][name] = value
    }

    func assign(_ target: AssignTarget, _ value: Value) throws {
        switch target {
        case .name(let n):
            assign(n, value)
        case .names(let names):
            let items = try unpack(value, count: names.count)
            for (n, v) in zip(names, items) { assign(n, v) }
        case .attribute(let base, let attr):
            guard case .handle(let h) = lookup(base), h.kind == .namespace, h.id < namespaces.count else {
                throw TemplateError.runtime("can only assign attributes of a namespace, '\(base)' is not one")
            }
            namespaces[h.id][attr] = value
        }
    }

    func unpack(_ value: Value, count: Int) throws -> [Value] {
        let items = try iterate(value)
        if items.count < count { throw TemplateError.runtime("not enough values to unpack (expected \(count), got \(items.count))") }
        if items.count > count { throw TemplateError.runtime("too many values to unpack (expected \(count))") }
        return items
    }

    /// What `for` walks: list items, dict keys, string characters; undefined is empty.
    func iterate(_ value: Value) throws -> [Value] {
        switch value {
        case .undefined: return []
        case .array(let a): return a
        case .object(let o): return o.keys.map { .string($0) }
        case .string(let s):
            try checkCount(s.unicodeScalars.count)
            return s.unicodeScalars.map { .string(String($0)) }
        case .handle(let h) where h.kind == .namespace:
            throw TemplateError.runtime("'Namespace' object is not iterable")
        default:
            throw TemplateError.runtime("'\(value.typeName)' object is not iterable")
        }
    }

    // MARK: Statements

    func exec(_ nodes: [Node]) throws -> Flow {
        for node in nodes {
            let flow = try exec(node)
            if flow != .normal { return flow }
        }
        return .normal
    }

    func exec(_ node: Node) throws -> Flow {
        try tick()
        evalDepth += 1
        defer { evalDepth -= 1 }
        if evalDepth > limits.maxEvalDepth { throw TemplateError.limit("template evaluation nested too deeply") }
        switch node {
        case .text(let s):
            try write(s)
        case .output(let e):
            try write(try str(try eval(e)))
        case .ifChain(let branches, let otherwise):
            for (condition, body) in branches where try eval(condition).isTruthy {
                return try exec(body)
            }
            return try exec(otherwise)
        case .forLoop(let targets, let iterable, let filter, let body, let otherwise, _):
            return try execFor(targets: targets, iterable: iterable, filter: filter, body: body, otherwise: otherwise)
        case .set(let target, let e):
            try assign(target, try eval(e))
        case .setBlock(let target, let body, let filters):
            let (text, flow) = try capture { try exec(body) }
            var value = try produced(text)
            for (name, args) in filters { value = try applyFilter(name, value, args) }
            try assign(target, value)
            if flow != .normal { return flow }
        case .filterBlock(let filters, let body):
            let (text, flow) = try capture { try exec(body) }
            var value = try produced(text)
            for (name, args) in filters { value = try applyFilter(name, value, args) }
            try write(try str(value))
            if flow != .normal { return flow }
        case .macro(let definition):
            macros.append(definition)
            assign(definition.name, .handle(.init(kind: .macro, id: macros.count - 1)))
        case .callBlock(let call, let callerParameters, let body):
            macros.append(MacroDefinition(name: "caller", parameters: callerParameters, body: body))
            let callerID = macros.count - 1
            closures[callerID] = frames
            guard case .call(let callee, let args) = unlocatedExpr(call) else { return .normal }
            let fn = try eval(callee)
            try write(try str(try callValue(fn, args, calleeExpr: callee, caller: callerID)))
        case .breakLoop:
            return .breakLoop
        case .continueLoop:
            return .continueLoop
        case .scope(let body):
            return try exec(body)
        }
        return .normal
    }

    func execFor(targets: [String], iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node]) throws -> Flow {
        let source = try iterate(try eval(iterable))
        var items = source
        if let filter {
            items = []
            for item in source {
                try countIteration()
                frames.append([:])
                defer { frames.removeLast() }
                try bind(targets, item)
                if try eval(filter).isTruthy { items.append(item) }
            }
        }
        if items.isEmpty { return try exec(otherwise) }
        let loopID = loopStates.count
        loopStates.append((0, items))
        for (i, item) in items.enumerated() {
            try countIteration()
            frames.append([:])
            defer { frames.removeLast() }
            try bind(targets, item)
            loopStates[loopID].index = i
            assign("loop", .handle(.init(kind: .loop, id: loopID)))
            let flow = try exec(body)
            if flow == .breakLoop { break }
        }
        return .normal
    }

    private func countIteration() throws {
        iterations += 1
        if iterations > limits.maxLoopIterations {
            throw TemplateError.limit("template exceeded \(limits.maxLoopIterations) loop iterations")
        }
    }

    private func bind(_ targets: [String], _ item: Value) throws {
        if targets.count == 1 {
            assign(targets[0], item)
        } else {
            for (n, v) in zip(targets, try unpack(item, count: targets.count)) { assign(n, v) }
        }
    }

    func unlocatedExpr(_ e: Expr) -> Expr {
        if case .located(let inner, _) = e { return unlocatedExpr(inner) }
        return e
    }

    // MARK: Calls

    func evalArguments(_ args: Arguments) throws -> (positional: [Value], keyword: [(String, Value)]) {
        (try args.positional.map { try eval($0) }, try args.keyword.map { ($0.0, try eval($0.1)) })
    }

    func callValue(_ fn: Value, _ args: Arguments, calleeExpr: Expr, caller: Int? = nil) throws -> Value {
        let (positional, keyword) = try evalArguments(args)
        return try callValue(fn, positional, keyword, calleeExpr: calleeExpr, caller: caller)
    }

    func callValue(_ fn: Value, _ positional: [Value], _ keyword: [(String, Value)], calleeExpr: Expr, caller: Int? = nil) throws -> Value {
        switch fn {
        case .handle(let h):
            switch h.kind {
            case .builtin(let name):
                return try callBuiltin(name, positional, keyword)
            case .macro:
                guard h.id < macros.count else { break }
                return try callMacro(h.id, positional, keyword, caller: caller)
            case .namespace, .loop:
                break
            }
        case .undefined:
            throw TemplateError.runtime("'\(describe(calleeExpr))' is undefined")
        default:
            break
        }
        throw TemplateError.runtime("'\(fn.typeName)' object is not callable")
    }

    func callMacro(_ id: Int, _ positional: [Value], _ keyword: [(String, Value)], caller: Int?) throws -> Value {
        callDepth += 1
        defer { callDepth -= 1 }
        if callDepth > limits.maxCallDepth { throw TemplateError.limit("macro calls nested deeper than \(limits.maxCallDepth)") }
        let macro = macros[id]
        let saved = frames
        // Macros see the context and the template's top level, plus their arguments;
        // a call block's body also sees the scope it was written in.
        frames = (closures[id] ?? [frames[0], frames[1]]) + [[:]]
        defer { frames = saved }
        var extra: [Value] = []
        for (i, v) in positional.enumerated() {
            if i < macro.parameters.count { assign(macro.parameters[i].0, v) } else { extra.append(v) }
        }
        var kwargs = OrderedObject()
        for (k, v) in keyword {
            if macro.parameters.contains(where: { $0.0 == k }) { assign(k, v) } else { kwargs[k] = v }
        }
        for (name, defaultExpr) in macro.parameters where frames[frames.count - 1][name] == nil {
            assign(name, try defaultExpr.map { try eval($0) } ?? .undefined)
        }
        assign("varargs", .array(extra))
        assign("kwargs", .object(kwargs))
        if let caller { assign("caller", .handle(.init(kind: .macro, id: caller))) }
        let (text, flow) = try capture { try exec(macro.body) }
        guard flow == .normal else { throw TemplateError.runtime("'break' or 'continue' outside of a loop") }
        return .string(text)
    }

    /// Source-like name of an expression, for "'x.y' is undefined" messages.
    func describe(_ e: Expr) -> String {
        switch e {
        case .located(let inner, _): return describe(inner)
        case .name(let n): return n
        case .attribute(let b, let n): return "\(describe(b)).\(n)"
        case .item(let b, .literal(.string(let k))): return "\(describe(b))['\(k)']"
        case .item(let b, .literal(.int(let i))): return "\(describe(b))[\(i)]"
        case .call(let b, _): return "\(describe(b))()"
        default: return "value"
        }
    }
}
