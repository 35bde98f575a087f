/// Expression syntax tree.
indirect enum Expr: Sendable {
    case literal(Value)
    case name(String)
    case list([Expr])
    case tuple([Expr])
    case dict([(Expr, Expr)])
    case attribute(Expr, String)
    case item(Expr, Expr)
    case slice(Expr, start: Expr?, stop: Expr?, step: Expr?)
    case call(Expr, Arguments)
    case filter(Expr, name: String, Arguments)
    case test(Expr, name: String, Arguments, negated: Bool)
    case unary(String, Expr)            // "-", "+", "not"
    case binary(String, Expr, Expr)     // arithmetic and "~"
    case and(Expr, Expr)
    case or(Expr, Expr)
    case compare(Expr, [(String, Expr)]) // chained: a < b < c; ops include "in", "not in"
    case conditional(test: Expr, then: Expr, otherwise: Expr?)
    /// Keeps the source position so runtime errors can point at the call.
    case located(Expr, line: Int)
}

/// Call arguments: positional then keyword.
struct Arguments: Sendable {
    var positional: [Expr] = []
    var keyword: [(String, Expr)] = []
}

/// Where `set` stores its value.
enum AssignTarget: Sendable {
    case name(String)
    case names([String])                 // set a, b = ...
    case attribute(String, String)       // set ns.x = ...
}

struct MacroDefinition: Sendable {
    let name: String
    let parameters: [(String, Expr?)]
    let body: [Node]
}

/// Statement syntax tree.
indirect enum Node: Sendable {
    case text(String)
    case output(Expr)
    case ifChain([(Expr, [Node])], otherwise: [Node])
    case forLoop(targets: [String], iterable: Expr, filter: Expr?, body: [Node], otherwise: [Node], line: Int)
    case set(AssignTarget, Expr)
    case setBlock(AssignTarget, body: [Node], filters: [(String, Arguments)])
    case macro(MacroDefinition)
    case callBlock(call: Expr, callerParameters: [(String, Expr?)], body: [Node])
    case filterBlock(filters: [(String, Arguments)], body: [Node])
    case breakLoop
    case continueLoop
    case scope([Node])   // `generation` blocks and the like: render the body as is
}
