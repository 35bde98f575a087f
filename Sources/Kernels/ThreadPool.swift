import Synchronization
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A persistent pool of `threads - 1` workers plus the calling thread. A forward
/// step runs a few hundred short parallel regions, so workers spin briefly on a
/// generation counter after each one (no syscall to start the next) and only then
/// sleep on a condition variable. Work is handed out in chunks from an atomic
/// counter, so a thread slowed by another process just takes fewer chunks; or, for
/// generation's products (`parallelStreams`), as one stream a thread whose unfinished
/// rest the others take from its back.
// @unchecked Sendable: the hand-out state is atomic; `workers` is written only in init and read
// in deinit; `job` is written by the one caller `busy` admits (others run inline) before the
// seq_cst store to `state` publishes it, and read only by threads holding a claimed chunk (the
// same for `streamJob`, a stream job's part words and tickets being atomic); the pthread mutex
// and condition are used only through pthread calls.
public final class ThreadPool: @unchecked Sendable {
    public let threads: Int

    /// The current job's hand-out state in one word, so a claim is one CAS that also
    /// checks the job: generation (16 bits) | grain (16) | next index (16) | count (16).
    /// A worker that wakes late finds the job gone or exhausted and claims nothing, so the
    /// caller never waits for a worker that has nothing in hand (another process may
    /// have taken its core).
    private let state = Atomic<UInt64>(0)
    /// A stream job's parts (`parallelStreams`), one per thread, and the tickets that hand them out.
    private let parts: [StreamPart]
    private let tickets = Atomic<UInt64>(0)  // generation (16 bits) << 16 | tickets taken
    private let done = Atomic<Int>(0)         // items finished in the current job
    private let sleepers = Atomic<Int>(0)     // workers blocked on `cond`
    private let stopping = Atomic<Bool>(false)
    private let busy = Atomic<Bool>(false)    // a job is running: nested calls run inline
    private let mutex: UnsafeMutablePointer<pthread_mutex_t>
    private let cond: UnsafeMutablePointer<pthread_cond_t>
    private var workers: [pthread_t] = []

    // The current job's body; written before `state` publishes the job, read only by a
    // thread holding an unfinished chunk of it (so the caller is still waiting).
    private var job: ((Range<Int>) -> Void)?
    // A stream job's body (`parallelStreams`), under the same rules as `job`.
    private var streamJob: ((Range<Int>, Int) -> Void)?

    /// Spins before a worker sleeps: on the order of 100 µs.
    private static let spinLimit = 1 << 15
    private static let maxCount = 0xFFFF

    public init(threads: Int) {
        self.threads = max(1, threads)
        parts = (0..<self.threads).map { _ in StreamPart() }
        mutex = .allocate(capacity: 1)
        cond = .allocate(capacity: 1)
        pthread_mutex_init(mutex, nil)
        pthread_cond_init(cond, nil)
        for _ in 1..<self.threads {
            #if canImport(Glibc)
            var tid = pthread_t()
            #else
            var tid: pthread_t?
            #endif
            let ctx = Unmanaged.passUnretained(self).toOpaque()
            let rc = pthread_create(&tid, nil, { ctx in
                #if canImport(Glibc)
                Unmanaged<ThreadPool>.fromOpaque(ctx!).takeUnretainedValue().workerLoop()
                #else
                Unmanaged<ThreadPool>.fromOpaque(ctx).takeUnretainedValue().workerLoop()
                #endif
                return nil
            }, ctx)
            #if canImport(Glibc)
            if rc == 0 { workers.append(tid) }
            #else
            if rc == 0, let t = tid { workers.append(t) }
            #endif
        }
    }

    deinit {
        stopping.store(true, ordering: .sequentiallyConsistent)
        let g = Self.nextGeneration(state.load(ordering: .relaxed))
        state.store(Self.pack(gen: g, grain: 1, next: 0, count: 0), ordering: .sequentiallyConsistent)
        pthread_mutex_lock(mutex)
        pthread_cond_broadcast(cond)
        pthread_mutex_unlock(mutex)
        for t in workers { pthread_join(t, nil) }
        pthread_cond_destroy(cond)
        pthread_mutex_destroy(mutex)
        mutex.deallocate()
        cond.deallocate()
    }

    @inline(__always) static func pack(gen: UInt64, grain: Int, next: Int, count: Int) -> UInt64 {
        (gen & 0xFFFF) << 48 | UInt64(grain) << 32 | UInt64(next) << 16 | UInt64(count)
    }
    @inline(__always) static func generation(_ v: UInt64) -> UInt64 { v >> 48 }
    /// The generation after the one in state word `v`, wrapping in its 16 bits (an unmasked 0x10000
    /// matched no claim: the caller of every 65,536th job left all of it to the workers).
    @inline(__always) static func nextGeneration(_ v: UInt64) -> UInt64 { (generation(v) &+ 1) & 0xFFFF }

    /// Calls `body(range)` for disjoint ranges covering 0..<count, in parallel; each
    /// range has at least `minChunk` items (but the last of each part of up to 65,535 items
    /// that a larger count goes in). Returns when all are done.
    /// A call from inside a body runs serially on the calling thread.
    public func parallelFor(_ count: Int, minChunk: Int = 1, _ body: (Range<Int>) -> Void) {
        guard count > 0 else { return }
        let minChunk = max(minChunk, 1)
        if workers.isEmpty || count <= minChunk
            || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            body(0..<count)
            return
        }
        // Counts past 16 bits go as several jobs.
        var base = 0
        while base < count {
            let part = min(Self.maxCount, count - base)
            if base == 0 && part == count {
                run(part, minChunk: minChunk, body)
            } else {
                let b = base
                run(part, minChunk: minChunk) { r in body((r.lowerBound + b)..<(r.upperBound + b)) }
            }
            base += part
        }
        busy.store(false, ordering: .releasing)
    }

    /// Calls `body(range, streamEnd)` for disjoint ranges covering 0..<count, in parallel, as one
    /// stream a thread: the count is cut into a contiguous part for each thread, a thread runs its
    /// own part front to back, half of what is left of it at a time (never under `piece` items),
    /// and a thread whose part is done takes half of what is left of the largest other part from
    /// its back (pieces above 65,535 items are cut to that). `streamEnd` is where the stream a
    /// range belongs to ends (for the owner its part's end when it claimed the range, which a
    /// taker may since have cut; a taken range's own end), so a kernel may read ahead past the
    /// range, never past `count`.
    /// Generation reads every weight once per step in regions of ~0.1 ms: few long runs keep the
    /// read-ahead going, and the taking keeps both threads busy to the end (equal chunks left
    /// one waiting 6-10% of a Qwen2.5-Coder-1.5B token). A call from inside a body runs serially.
    public func parallelStreams(_ count: Int, piece: Int = 1, _ body: (Range<Int>, Int) -> Void) {
        guard count > 0 else { return }
        let piece = max(piece, 1)
        if count >= Self.maxPartIndex {
            parallelFor(count, minChunk: piece) { body($0, $0.upperBound) }
            return
        }
        if workers.isEmpty || count <= piece
            || !busy.compareExchange(expected: false, desired: true, ordering: .acquiring).exchanged {
            body(0..<count, count)
            return
        }
        withoutActuallyEscaping(body) { esc in
            streamJob = esc
            done.store(0, ordering: .relaxed)
            let g = Self.nextGeneration(state.load(ordering: .relaxed))
            streamJobs.add(1, ordering: .relaxed)
            for k in 0..<threads {
                parts[k].word.store(Self.part(gen: g, lo: k * count / threads, hi: (k + 1) * count / threads), ordering: .releasing)
            }
            tickets.store(g << 16, ordering: .releasing)
            // Grain 0 marks a stream job, whose piece goes where a plain job's next index does; the
            // seq_cst store publishes the parts and the body.
            state.store(Self.pack(gen: g, grain: 0, next: min(piece, Self.maxCount), count: 0), ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(cond)
                pthread_mutex_unlock(mutex)
            }
            runStreams(generation: g, piece: min(piece, Self.maxCount))
            wait(until: count)
            streamJob = nil
        }
        busy.store(false, ordering: .releasing)
    }

    /// The smallest piece of a stream job of `count` items over `bytes` bytes of weights: about
    /// 32 KiB, so a piece's call costs little beside its read.
    public static func streamPiece(count: Int, bytes: Int) -> Int { max(1, 32768 * count / max(1, bytes)) }

    /// Whether a region reading `bytes` bytes of weights is worth a stream job: at least 1 MiB (a
    /// ~20 µs read). Smaller regions (SmolLM2's products) measured no gain: their parts are a few
    /// pieces, and the parts' words cost a region more cache-line transfers than the plain job.
    public static func worthStreams(bytes: Int) -> Bool { bytes >= 1 << 20 }

    /// Stream jobs run so far (not those run inline): tests check a product took this path.
    let streamJobs = Atomic<Int>(0)

    /// Part indexes are 24 bits in a part's word.
    static let maxPartIndex = 1 << 24

    /// A part's word: generation (16 bits) | first item not taken (24) | end (24).
    @inline(__always) static func part(gen: UInt64, lo: Int, hi: Int) -> UInt64 {
        (gen & 0xFFFF) << 48 | UInt64(lo) << 24 | UInt64(hi)
    }

    /// Runs stream job `generation`: the part a ticket names (none for a thread that comes after
    /// every part is handed out), then pieces taken from the other parts until none is left.
    private func runStreams(generation g: UInt64, piece: Int) {
        let gen = g & 0xFFFF
        var t = tickets.load(ordering: .relaxed), own = -1
        while t >> 16 == gen && Int(t & 0xFFFF) < threads {
            let (ok, seen) = tickets.compareExchange(expected: t, desired: t + 1, ordering: .relaxed)
            if ok { own = Int(t & 0xFFFF); break }
            t = seen
        }
        if own >= 0 {
            let mine = parts[own]
            var w = mine.word.load(ordering: .acquiring)
            while w >> 48 == gen {
                let lo = Int((w >> 24) & 0xFF_FFFF), hi = Int(w & 0xFF_FFFF)
                guard lo < hi else { break }
                let end = min(hi, lo + max(piece, (hi - lo) / 2))
                let (ok, seen) = mine.word.compareExchange(expected: w, desired: Self.part(gen: g, lo: end, hi: hi),
                                                           ordering: .acquiringAndReleasing)
                if !ok { w = seen; continue }
                streamJob?(lo..<end, hi)
                done.add(end - lo, ordering: .releasing)
                w = mine.word.load(ordering: .acquiring)
            }
        }
        while true {
            var victim = -1, left = 0, vw: UInt64 = 0
            for k in 0..<threads {
                let w = parts[k].word.load(ordering: .acquiring)
                let n = Int(w & 0xFF_FFFF) - Int((w >> 24) & 0xFF_FFFF)
                if w >> 48 == gen && n > left { victim = k; left = n; vw = w }
            }
            guard victim >= 0 else { return }
            let lo = Int((vw >> 24) & 0xFF_FFFF), hi = Int(vw & 0xFF_FFFF)
            let start = max(lo, hi - max(piece, left / 2))
            let (ok, _) = parts[victim].word.compareExchange(expected: vw, desired: Self.part(gen: g, lo: lo, hi: start),
                                                             ordering: .acquiringAndReleasing)
            if !ok { continue }
            streamJob?(start..<hi, hi)
            done.add(hi - start, ordering: .releasing)
        }
    }

    /// The caller's wait for the job's `count` items: spins, then yields.
    private func wait(until count: Int) {
        var spins = 0
        while done.load(ordering: .acquiring) < count {
            spins += 1
            if spins < Self.spinLimit { Self.pause() } else { sched_yield() }
        }
    }

    private func run(_ count: Int, minChunk: Int, _ body: (Range<Int>) -> Void) {
        withoutActuallyEscaping(body) { esc in
            job = esc
            done.store(0, ordering: .relaxed)
            let grain = min(0xFFFF, max(minChunk, count / (threads * 8)))
            let g = Self.nextGeneration(state.load(ordering: .relaxed))
            state.store(Self.pack(gen: g, grain: grain, next: 0, count: count), ordering: .sequentiallyConsistent)
            if sleepers.load(ordering: .sequentiallyConsistent) > 0 {
                pthread_mutex_lock(mutex)
                pthread_cond_broadcast(cond)
                pthread_mutex_unlock(mutex)
            }
            claimAndRun(generation: g)
            wait(until: count)
            job = nil
        }
    }

    /// Claims chunks of job `generation` until none are left.
    private func claimAndRun(generation g: UInt64) {
        var v = state.load(ordering: .acquiring)
        if Self.generation(v) == g && (v >> 32) & 0xFFFF == 0 {
            runStreams(generation: g, piece: Int((v >> 16) & 0xFFFF))
            return
        }
        while true {
            let next = Int((v >> 16) & 0xFFFF), count = Int(v & 0xFFFF), grain = Int((v >> 32) & 0xFFFF)
            guard Self.generation(v) == g, next < count else { return }
            let end = min(count, next + grain)
            let (ok, seen) = state.compareExchange(expected: v, desired: Self.pack(gen: g, grain: grain, next: end, count: count),
                                                   ordering: .acquiringAndReleasing)
            if !ok { v = seen; continue }
            job?(next..<end)
            done.add(end - next, ordering: .releasing)
            v = state.load(ordering: .acquiring)
        }
    }

    private func workerLoop() {
        var seen: UInt64 = 0  // generation last worked on; jobs start at 1
        while true {
            var spins = 0
            var g = Self.generation(state.load(ordering: .acquiring))
            while g == seen {
                if spins < Self.spinLimit {
                    spins += 1
                    Self.pause()
                } else {
                    // Dekker with the caller: sleepers is raised before state is re-read,
                    // the caller publishes state before reading sleepers (both seq_cst).
                    pthread_mutex_lock(mutex)
                    sleepers.add(1, ordering: .sequentiallyConsistent)
                    while Self.generation(state.load(ordering: .sequentiallyConsistent)) == seen {
                        pthread_cond_wait(cond, mutex)
                    }
                    sleepers.subtract(1, ordering: .sequentiallyConsistent)
                    pthread_mutex_unlock(mutex)
                }
                g = Self.generation(state.load(ordering: .acquiring))
            }
            seen = g
            if stopping.load(ordering: .acquiring) { return }
            claimAndRun(generation: g)
        }
    }

    /// A spin step. (`_mm_pause` is not callable from Swift: clang declares it as a
    /// library function, not an inline one.)
    @inline(never) private static func pause() {}
}

/// One thread's part of a stream job, 64 bytes clear of the object's header (its reference
/// count) and of whatever follows it: the owner claims from it at every piece, others read it
/// only when their part is done.
private final class StreamPart {
    private let before: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
    let word = Atomic<UInt64>(0)
    private let after: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0, 0, 0, 0)
}
