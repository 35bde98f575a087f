import Foundation
import Kernels

/// The idle wait of a loop that runs forward passes (the engine's, the embedding batcher's),
/// written once so both give memory back by the same rule (`HeapTrim`).
public enum IdleTrim {
    /// One wait on `condition` (locked on entry and on return) of a loop with nothing to do.
    /// `trimDue`: a pass ran since the heap was last trimmed. Then, after `HeapTrim.quietSeconds`
    /// without a signal, the passes' freed buffers go back to the system; if another component
    /// ran a pass meanwhile, `trimDue` stays set and the next wait asks again a quiet while later.
    /// Without a trim due it waits for a signal alone.
    public static func wait(on condition: NSCondition, trimDue: inout Bool) {
        guard trimDue else { condition.wait(); return }
        if condition.wait(until: Date(timeIntervalSinceNow: HeapTrim.quietSeconds)) { return }
        condition.unlock()
        trimDue = !HeapTrim.releaseIfQuiet()
        condition.lock()
    }
}
