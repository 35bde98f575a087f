/// A parsed Jinja template. Parse once (`init`), render many times; rendering never
/// mutates the template, so one instance can be shared across requests.
///
///     let t = try Template(chatTemplateSource)
///     let prompt = try t.render(["messages": ..., "add_generation_prompt": true])
public struct Template: Sendable {
    let nodes: [Node]
    public let options: TemplateOptions

    /// Parses `source`; throws `TemplateError` (kind `.syntax`, with line and column).
    public init(_ source: String, options: TemplateOptions = TemplateOptions()) throws {
        self.options = options
        self.nodes = try Parser.parse(source, options: options)
    }

    /// Renders with the given variables and default limits.
    public func render(_ context: [String: Value]) throws -> String {
        try render(context, environment: RenderEnvironment())
    }

    /// Renders with explicit limits and clock.
    public func render(_ context: [String: Value], environment: RenderEnvironment) throws -> String {
        let interpreter = Interpreter(context: context, environment: environment)
        return try interpreter.render(nodes)
    }
}
