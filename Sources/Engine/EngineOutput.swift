/// One event for one request, as a step produces it: token ids, log-probability ids and
/// values, or how it finished; never text. The engine hands these to the sinks once the
/// step is over and its stats are published.
struct EngineOutput {
    let sink: GenerationSink
    let event: GenerationEvent
}
