/// The `# HELP` line of each metric family: swift-metrics labels carry no description, so the
/// exposition gets them here, one line before each family's `# TYPE` line, as Prometheus and
/// Grafana show them beside the series.
enum MetricHelp {
    static let text: [String: String] = [
        "jeton_requests_total": "HTTP requests answered, by endpoint, status and model.",
        "jeton_request_duration_seconds": "Time from a request's head to its last byte (a stream's last token), by endpoint.",
        "jeton_request_queue_seconds": "Time a generation waited before its prompt was admitted to the batch.",
        "jeton_requests_running": "Generation sequences in the running batch (a request with n choices or prompts counts each).",
        "jeton_requests_waiting": "Generation sequences waiting for admission (a request with n choices or prompts counts each).",
        "jeton_answers_finished_total": "Finished answers (choices) by model and finish reason: stop, length, abort (client gone, slow reader, drain deadline), error.",
        "jeton_http_connections": "Open HTTP connections.",
        "jeton_responses_kept": "Responses API answers kept for previous_response_id and GET /v1/responses/{id}.",
        "jeton_responses_kept_bytes": "Bytes of the kept Responses API answers (bounded by server.response_store_bytes).",
        "jeton_http_rejected_total": "Requests refused by the HTTP layer before any route (bad framing, limits, timeouts, unknown methods, early 401s), by status and code.",
        "jeton_prompt_tokens_total": "Prompt tokens of finished generations, by model and API key name.",
        "jeton_generation_tokens_total": "Generated tokens of finished generations, by model and API key name.",
        "jeton_time_to_first_token_seconds": "Time from a generation request to its first token.",
        "jeton_inter_token_latency_seconds": "Time between two tokens of one sequence.",
        "jeton_batch_tokens": "Tokens computed per forward pass (prompt chunks and generated tokens).",
        "jeton_engine_step_seconds": "Seconds of each forward pass of the target model (while requests generate, one inter-token gap but a draft model's passes; compare with engine.step_target_ms).",
        "jeton_kv_cache_bytes": "Bytes of the paged KV cache (a draft model's included).",
        "jeton_kv_cache_used_bytes": "Bytes of the KV cache held by running or paused sequences (blocks kept only for the prefix cache are free: reused until taken).",
        "jeton_kv_cache_usage_ratio": "Share of the KV cache's blocks in use.",
        "jeton_prefix_cache_queries_total": "Prompt blocks looked up in the prefix cache.",
        "jeton_prefix_cache_hits_total": "Prompt blocks found in the prefix cache (not computed again).",
        "jeton_preemptions_total": "Sequences preempted to free KV cache blocks (recomputed later).",
        "jeton_slow_reader_pauses_total": "Times a sequence paused because its client read its stream too slowly.",
        "jeton_slow_reader_aborts_total": "Streams ended because their client stopped reading.",
        "jeton_engine_forward_seconds_total": "Seconds the engine thread spent in forward passes.",
        "jeton_engine_busy_seconds_total": "Seconds the engine thread was at work (forward passes, sampling, scheduling).",
        "jeton_grammar_masks_total": "Token masks made for constrained (grammar, schema, tools) sequences.",
        "jeton_grammar_mask_seconds_total": "Seconds spent making token masks.",
        "jeton_grammar_masks_overlapped_total": "Token masks made beside the forward pass.",
        "jeton_grammar_fast_picks_total": "Greedy tokens of constrained sequences that needed no mask.",
        "jeton_spec_proposed_tokens_total": "Tokens proposed by speculative decoding, by method.",
        "jeton_spec_accepted_tokens_total": "Proposed tokens the target model accepted, by method.",
        "jeton_spec_acceptance_ratio": "Accepted over proposed tokens since start, by method.",
        "jeton_answer_mean_logprob": "Mean log-probability of each answer's tokens (at most 0, so the _sum falls: not a counter to rate()).",
        "jeton_answer_low_confidence_ratio": "Share of each answer's tokens below the low-confidence threshold.",
        "jeton_embedding_requests_total": "Embedding requests answered.",
        "jeton_embedding_inputs_total": "Inputs embedded.",
        "jeton_embedding_tokens_total": "Tokens of the inputs embedded.",
        "jeton_embedding_batch_seconds": "Time of each batched embedding pass.",
        "jeton_embedding_batch_inputs": "Inputs in each batched embedding pass.",
    ]

    /// `exposition` with a `# HELP` line before each `# TYPE` line of a family that has one.
    static func annotate(_ exposition: String) -> String {
        var out = ""
        out.reserveCapacity(exposition.utf8.count + 64 * text.count)
        for line in exposition.split(separator: "\n", omittingEmptySubsequences: false) {
            if line.hasPrefix("# TYPE "), let name = line.dropFirst(7).split(separator: " ").first,
               let help = text[String(name)] {
                out += "# HELP \(name) \(help)\n"
            }
            out += line
            out += "\n"
        }
        if out.hasSuffix("\n\n") { out.removeLast() }
        return out
    }
}
